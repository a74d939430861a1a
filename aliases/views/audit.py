"""History pages and exports for auditors and admins; every look is itself audited."""

import csv
import json
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import selectors
from ..audit import AuditContext, EventType, export_line, record
from ..forms import AuditFilterForm
from ..validators import is_phone_login

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "jsonl")
CSV_COLUMNS = [
    "sequence",
    "occurred_at",
    "event_type",
    "actor_username",
    "actor_role",
    "source_ip",
    "user_agent",
    "correlation_id",
    "request_id",
    "call_id",
    "extensions",
    "outcome",
    "reason",
    "changes",
    "prev_hash",
    "hash",
]


def _page_of(events, request: HttpRequest):
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    # Read the rows now: recording this very look must not shift what the page shows.
    page.object_list = list(page.object_list)
    return page


def _record_look(request: HttpRequest, event_type: str, **details) -> None:
    with transaction.atomic():
        record(
            event_type=event_type,
            actor=request.user,
            context=AuditContext.from_request(request),
            **details,
        )


@require_GET
@login_required
@permission_required("aliases.view_auditevent", raise_exception=True)
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.active_filters()
    events = selectors.audit_events_filtered(**filters)
    page = _page_of(events, request)
    _record_look(
        request,
        EventType.AUDIT_VIEWED,
        extensions=[filters["extension"]] if "extension" in filters else [],
        reason="audit trail",
        changes={"filters": filters, "page": page.number},
    )
    return render(request, "aliases/audit_list.html", {"form": form, "page": page})


@require_GET
@login_required
@permission_required("aliases.view_auditevent", raise_exception=True)
def extension_lookup(request: HttpRequest) -> HttpResponse:
    login = request.GET.get("login", "").strip()
    if not is_phone_login(login):
        messages.error(request, "Enter a phone login: letters, digits, - or _.")
        return redirect("aliases:home")
    return redirect("aliases:extension_history", login=login)


@require_GET
@login_required
@permission_required("aliases.view_auditevent", raise_exception=True)
def extension_history(request: HttpRequest, login: str) -> HttpResponse:
    if not is_phone_login(login):
        raise Http404("No such extension.")
    page = _page_of(selectors.audit_events_filtered(extension=login), request)
    _record_look(
        request,
        EventType.AUDIT_VIEWED,
        extensions=[login],
        reason="extension history",
        changes={"extension": login, "page": page.number},
    )
    context = {
        "login": login,
        "extension": selectors.extension_by_login(login=login),
        "mapped_aliases": selectors.aliases_mapped_to(login=login),
        "page": page,
    }
    return render(request, "aliases/extension_history.html", context)


def _csv_rows(events) -> Iterator[str]:
    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events:
        line = export_line(event)
        line["extensions"] = " ".join(line["extensions"])
        line["changes"] = json.dumps(line["changes"], sort_keys=True, ensure_ascii=False)
        yield writer.writerow([line[column] for column in CSV_COLUMNS])


def _jsonl_rows(events) -> Iterator[str]:
    for event in events:
        yield json.dumps(export_line(event), sort_keys=True, ensure_ascii=False) + "\n"


@require_GET
@login_required
@permission_required("aliases.export_auditevent", raise_exception=True)
def audit_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format.")
    form = AuditFilterForm(request.GET or None)
    filters = form.active_filters()
    events = selectors.audit_events_filtered(**filters)
    # The export event goes in first, so the trail shows the export even if the download fails.
    _record_look(
        request,
        EventType.AUDIT_EXPORTED,
        extensions=[filters["extension"]] if "extension" in filters else [],
        reason=f"{fmt} export",
        changes={"filters": filters, "format": fmt},
    )
    rows = events.order_by("sequence").iterator(chunk_size=1000)
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_rows(rows), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_jsonl_rows(rows), content_type="application/x-ndjson")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response
