"""Bulk requests by CSV upload: the upload page and the template to start from."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import predicates
from ..audit import AuditContext
from ..forms_upload import RequestUploadForm
from ..models import AliasRequest
from ..services.bulk_upload import requests_upload
from ..services.upload_csv import MAX_BYTES, MAX_ROWS, template_csv
from ..vicidial.servers import DEFAULT_SERVER, has_several_servers, server_names
from .access import role_required

TEMPLATE_FILENAME = "alias-requests-template.csv"


@require_http_methods(["GET", "POST"])
@role_required(predicates.may_submit)
def request_upload(request: HttpRequest) -> HttpResponse:
    outcome = None
    if request.method == "POST":
        form = RequestUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            outcome = requests_upload(
                requester=request.user,
                filename=upload.name or "",
                # One byte past the limit is enough to refuse a file that is too large,
                # without reading all of it.
                content=upload.read(MAX_BYTES + 1),
                all_or_nothing=form.cleaned_data["all_or_nothing"],
                context=AuditContext.from_request(request),
            )
            earlier = outcome.earlier_batch
            if earlier is not None and predicates.sees_batch.test(request.user, earlier):
                messages.info(request, outcome.summary)
                return redirect("aliases:batch_detail", pk=earlier.pk)
            if outcome.batch is not None and not outcome.errors:
                messages.success(request, outcome.summary)
                return redirect("aliases:batch_detail", pk=outcome.batch.pk)
    else:
        form = RequestUploadForm()
    context = {
        "form": form,
        "outcome": outcome,
        "kinds": AliasRequest.Kind.choices,
        "max_rows": MAX_ROWS,
        "max_kb": MAX_BYTES // 1024,
        "servers": server_names() if has_several_servers() else [],
        "default_server": DEFAULT_SERVER,
    }
    return render(request, "aliases/request_upload.html", context)


@require_GET
@role_required(predicates.may_submit)
def request_upload_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{TEMPLATE_FILENAME}"'
    return response
