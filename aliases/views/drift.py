"""The drift page: the inventory compared with VICIdial's own database, and one fix per
difference. Every comparison is recorded, as every look at the audit trail is."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from .. import predicates, services
from ..audit import AuditContext
from ..errors import PortalError
from ..forms_drift import DriftAdoptForm, DriftServerForm
from ..services.adopt import AdoptReport
from ..services.vicidial_reads import servers_with_database
from ..vicidial.servers import server_label
from .access import role_required


@require_GET
@role_required(predicates.may_check_drift)
def drift(request: HttpRequest) -> HttpResponse:
    servers = servers_with_database()
    form = DriftServerForm(request.GET or None, servers=servers)
    report, error = None, ""
    if form.is_valid():
        try:
            report = services.drift_check(
                server=form.cleaned_data["server"],
                actor=request.user,
                context=AuditContext.from_request(request),
            )
        except PortalError as failure:
            error = str(failure)
    context = {
        "form": form,
        "servers": servers,
        "report": report,
        "error": error,
        "can_adopt": predicates.may_adopt.test(request.user),
        "can_submit": predicates.may_submit.test(request.user),
        "can_open_requests": predicates.sees_every_request.test(request.user),
    }
    return render(request, "aliases/drift.html", context)


def _adopted_message(request: HttpRequest, report: AdoptReport, alias_id: str) -> None:
    where = server_label(report.server)
    if report.adopted:
        doubled = report.duplicate_logins.get(report.adopted[0])
        note = (
            f" VICIdial lists {', '.join(doubled)} more than once; the inventory keeps each "
            "login once."
            if doubled
            else ""
        )
        messages.success(
            request,
            f"Adopted {report.adopted[0]} from {where}: the inventory now lists it as active, "
            f"as VICIdial holds it. Nothing was sent to VICIdial.{note}",
        )
    elif report.already_listed:
        messages.info(request, f"{alias_id} is already in the inventory; nothing was adopted.")
    elif report.skipped_live_request:
        request_id = next(iter(report.skipped_live_request.values()))
        messages.warning(
            request,
            f"{alias_id} has open request #{request_id}; nothing was adopted. Its outcome "
            "will list the alias; compare again once it is done.",
        )
    else:
        messages.error(
            request,
            f"VICIdial's database on {where} no longer holds {alias_id}; nothing was adopted.",
        )


@require_POST
@role_required(predicates.may_adopt)
def drift_adopt(request: HttpRequest) -> HttpResponse:
    form = DriftAdoptForm(request.POST, servers=servers_with_database())
    if not form.is_valid():
        messages.error(request, "Nothing was adopted: choose a server and an alias ID again.")
        return redirect("aliases:drift")
    server, alias_id = form.cleaned_data["server"], form.cleaned_data["alias_id"]
    try:
        report = services.aliases_adopt(
            server=server,
            actor=request.user,
            context=AuditContext.from_request(request),
            only={alias_id},
        )
    except PortalError as error:
        messages.error(request, f"Nothing was adopted: {error}")
    else:
        _adopted_message(request, report, alias_id)
    return redirect(f"{reverse('aliases:drift')}?{urlencode({'server': server})}")
