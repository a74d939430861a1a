"""History pages and exports for auditors and admins; every look is itself audited."""

import csv
from collections.abc import Iterable, Iterator

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from .. import predicates, selectors, selectors_inventory, selectors_trail
from ..audit import CONTENT_KEYS, LINK_KEYS, AuditContext, EventType, record
from ..audit.export_rows import ExportEncoder
from ..forms import AuditFilterForm, EventCursorForm
from ..models import AuditEvent
from ..validators import is_phone_login
from .access import role_required

PAGE_SIZE = 50
EXPORT_CHUNK_SIZE = selectors_trail.EXPORT_CHUNK_SIZE
EXPORT_FORMATS = ("csv", "jsonl")
# Every hashed field and every link, in the verifier's order: a column per key of export_line.
CSV_COLUMNS = [*CONTENT_KEYS, *LINK_KEYS]


def _page_of(filters: dict[str, object], cursor: EventCursorForm) -> selectors_trail.EventPage:
    if not cursor.is_valid():
        return selectors_trail.EventPage(events=[])
    return selectors_trail.audit_trail_page(
        filters=filters,
        size=PAGE_SIZE,
        before=cursor.cleaned_data["before"],
        after=cursor.cleaned_data["after"],
    )


def _record_look(request: HttpRequest, event_type: str, **details) -> AuditEvent:
    with transaction.atomic():
        return record(
            event_type=event_type,
            actor=request.user,
            context=AuditContext.from_request(request),
            **details,
        )


def _filter_query(form: AuditFilterForm) -> str:
    """The filters as a query string, without the page: links and exports start from it."""
    return urlencode({name: form.data[name] for name in form.fields if form.data.get(name)})


@require_GET
@role_required(predicates.may_read_audit)
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    cursor = EventCursorForm(request.GET)
    filters = form.active_filters()
    filters_valid = not form.is_bound or form.is_valid()
    changes: dict[str, object] = {"filters": filters}
    if filters_valid:
        page = _page_of(filters, cursor)
    else:
        # Never the whole trail in place of what was asked for: the errors and no rows.
        page = selectors_trail.EventPage(events=[])
        changes["refused_filters"] = sorted(form.errors)
    _record_look(
        request,
        EventType.AUDIT_VIEWED,
        extensions=[filters["extension"]] if "extension" in filters else [],
        reason="audit trail",
        changes={**changes, "shown": page.shown},
    )
    context = {
        "form": form,
        "cursor": cursor,
        "page": page,
        "filter_query": _filter_query(form),
        "filters_valid": filters_valid,
    }
    return render(request, "aliases/audit_list.html", context)


@require_GET
@role_required(predicates.may_read_audit)
def extension_lookup(request: HttpRequest) -> HttpResponse:
    login = request.GET.get("login", "").strip()
    if not is_phone_login(login):
        messages.error(request, "Enter a phone login: letters, digits, - or _.")
        return redirect("aliases:home")
    return redirect("aliases:extension_history", login=login)


@require_GET
@role_required(predicates.may_read_audit)
def extension_history(request: HttpRequest, login: str) -> HttpResponse:
    if not is_phone_login(login):
        raise Http404("No such extension.")
    cursor = EventCursorForm(request.GET)
    page = _page_of({"extension": login}, cursor)
    _record_look(
        request,
        EventType.AUDIT_VIEWED,
        extensions=[login],
        reason="extension history",
        changes={"extension": login, "shown": page.shown},
    )
    context = {
        "login": login,
        "extensions": selectors.extensions_by_login(login=login),
        "ringing": selectors_inventory.aliases_ringing(login=login),
        # Read from each server's database now: what really rings it, drift included.
        "vicidial_ringing": selectors_inventory.vicidial_aliases_ringing(login=login),
        "cursor": cursor,
        "page": page,
        "filter_query": "",  # the extension is in the path
    }
    return render(request, "aliases/extension_history.html", context)


def _csv_rows(chunks: Iterable[list[tuple]]) -> Iterator[str]:
    """The header, then one string per chunk (not per row: each yield costs a trip through
    the WSGI iterator). Each row as csv.writer wrote export_line(event) through
    spreadsheet.csv_cell, the extensions joined by spaces and the changes as JSON
    (aliases.audit.export_rows)."""

    class Echo:
        def write(self, value: str) -> str:
            return value

    yield csv.writer(Echo()).writerow(CSV_COLUMNS)
    encoder = ExportEncoder()
    for chunk in chunks:
        if chunk:
            yield encoder.csv(chunk)


def _jsonl_rows(chunks: Iterable[list[tuple]]) -> Iterator[str]:
    # Exactly what is hashed, unescaped: this is the export that verify_audit checks.
    encoder = ExportEncoder()
    for chunk in chunks:
        if chunk:
            yield encoder.jsonl(chunk)


def _refused_export(form: AuditFilterForm) -> HttpResponse:
    problems = "; ".join(
        f"{form.fields[name].label if name in form.fields else 'filters'}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )
    text = (
        f"Nothing was exported: the filters are not valid ({problems}). "
        "Correct them on the audit trail page, then export again.\n"
    )
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


@require_GET
@role_required(predicates.may_export_audit)
def audit_export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown export format.")
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return _refused_export(form)
    filters = form.active_filters()
    # The export event goes in first, so the trail shows the export even if the download fails.
    exported = _record_look(
        request,
        EventType.AUDIT_EXPORTED,
        extensions=[filters["extension"]] if "extension" in filters else [],
        reason=f"{fmt} export",
        changes={"filters": filters, "format": fmt},
    )
    # Up to its own record: what the trail held when the export was asked for, itself included.
    chunks = selectors_trail.audit_events_for_export(
        filters=filters, up_to=exported.sequence, chunk_size=EXPORT_CHUNK_SIZE
    )
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_rows(chunks), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_jsonl_rows(chunks), content_type="application/x-ndjson")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response
