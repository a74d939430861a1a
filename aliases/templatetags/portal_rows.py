"""The rows of the portal's long tables, written in Python: `{% load portal_rows %}`.

Through the template engine a row costs a lookup per value, a `{% url %}` or
`{% extension_history_url %}` per link, a choice label through make_hashable, a `|date`:
about a millisecond per audit event, 200 ms for an extension rung by 700 aliases. Here each
row is one format_html, URLs are reversed once per page (or once per distinct phone login),
labels come from dicts. The markup is the templates' own, cell for cell; the tables' heads,
empty texts and everything else stay in the templates.
"""

from collections.abc import Callable, Iterable
from functools import lru_cache
from html import escape

from django import template
from django.template.loader import get_template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from .. import outcomes
from ..display import datetime_text, number_text, truncator
from ..models import Alias, AliasRequest, AuditEvent, VicidialCall
from ..selectors_inventory import AliasRinging
from ..vicidial.servers import server_choices
from .portal import extension_history_url, lowerfirst, raw_response_of, server_label

register = template.Library()

EVENT_TYPE_LABELS = dict(AuditEvent.Type.choices)
_SENTINEL = 987654321

EVENT_ROW = """<tr>
    <td>{sequence}</td>
    <td class="text-nowrap">{occurred}</td>
    <td>{event_type}</td>
    <td>{actor}{role}</td>
    <td>{request}</td>
    <td>{extensions}</td>
    <td>{outcome}</td>
    <td class="small">
      {reason}
      {response}
      <div class="text-body-secondary">{source_ip} · {correlation}</div>
    </td>
  </tr>
  """

RINGING_ROW = """<tr>
    <td>{alias_id}</td>
    <td>{alias_name}</td>
    <td>{server}</td>
    <td>{logins}</td>
  </tr>
  """


def int_url(name: str) -> Callable[[int], str]:
    """`reverse(name, args=[pk])` for a route whose one argument is an <int:...>, reversed
    once: the int converter writes the number as it is."""
    before, _, after = reverse(name, args=[_SENTINEL]).partition(str(_SENTINEL))
    return lambda pk: f"{before}{pk}{after}"


def _escaped(value: object) -> str:
    # django.utils.html.conditional_escape without its keep_lazy wrapper, which costs more
    # than the escaping: a safe string as it is, anything else through html.escape.
    as_html = getattr(value, "__html__", None)
    return as_html() if as_html is not None else escape(str(value))


def format_html(format_string: str, *args: object, **kwargs: object) -> SafeString:
    """django.utils.html.format_html, a few times faster (_escaped)."""
    escaped = format_string.format(
        *map(_escaped, args), **{name: _escaped(value) for name, value in kwargs.items()}
    )
    return mark_safe(escaped)  # noqa: S308 (every value is escaped)


def _joined(parts: Iterable[object], separator: str = ", ") -> SafeString:
    return mark_safe(separator.join(map(_escaped, parts)))  # noqa: S308 (escaped)


def _extension_links(logins: Iterable[str], history_url: Callable[[str], str]) -> SafeString:
    links = []
    for login in logins:
        url = history_url(login)
        if url:
            links.append(format_html('<a href="{}"><code>{}</code></a>', url, login))
        else:
            links.append(format_html("<code>{}</code>", login))
    return _joined(links)


@register.simple_tag
def event_rows(events: Iterable[AuditEvent]) -> SafeString:
    """The <tr>s of templates/aliases/_event_rows.html (events read with
    selectors_trail.EVENT_ROW_FIELDS)."""
    request_url = int_url("aliases:request_detail")
    # The same few phones recur on a page (on an extension's own history: one).
    history_url = lru_cache(maxsize=None)(extension_history_url)
    correlation = truncator(13)
    raw_response = get_template("aliases/_raw_response.html")
    rows = []
    for event in events:
        response = "" if event.call_id is None else _raw_response(event.call, raw_response)
        rows.append(
            format_html(
                EVENT_ROW,
                sequence=number_text(event.sequence),
                occurred=datetime_text(event.occurred_at),
                event_type=EVENT_TYPE_LABELS.get(event.event_type, event.event_type),
                actor=event.actor_username or "–",
                role=format_html(
                    ' <span class="text-body-secondary small">({})</span>', event.actor_role
                )
                if event.actor_role
                else "",
                request=format_html(
                    '<a href="{}">#{} {}</a>',
                    request_url(event.request_id),
                    number_text(event.request_id),
                    event.request.alias_id,
                )
                if event.request_id
                else "",
                extensions=_extension_links(event.extensions, history_url),
                outcome=outcomes.outcome_label(event.outcome, event.event_type),
                reason=format_html("<div><code>{}</code></div>", event.reason)
                if event.reason
                else "",
                response=response,
                source_ip=event.source_ip or "no IP",
                correlation=correlation(event.correlation_id),
            )
        )
    return _joined(rows, "")


@register.simple_tag(takes_context=True)
def ringing_rows(context, ringing: Iterable[AliasRinging]) -> SafeString:
    """The <tr>s of the inventory's aliases ringing a phone (templates/aliases/_ringing.html):
    hundreds for the busiest phones, so written with html.escape (the values are plain text
    from the database) and marked safe once."""
    perms = context.get("perms")
    can_open = bool(perms and perms["aliases"]["view_alias"])
    alias_url = int_url("aliases:alias_detail")
    labels = {name: escape(label) for name, label in server_choices()}
    rows = []
    for alias in ringing:
        alias_id = f"<code>{escape(alias.alias_id)}</code>"
        if can_open:
            alias_id = f'<a href="{escape(alias_url(alias.pk))}">{alias_id}</a>'
        rows.append(
            RINGING_ROW.format(
                alias_id=alias_id,
                alias_name=escape(alias.alias_name),
                server=labels.get(alias.server) or escape(alias.server),
                logins=", ".join(f"<code>{escape(login)}</code>" for login in alias.logins),
            )
        )
    return mark_safe("".join(rows))  # noqa: S308 (every value is escaped above)


REQUEST_ROW = """
    <tr>
      {select}
      <td><a href="{url}">#{pk}</a></td>
      <td>{kind}</td>
      {server}
      <td>{alias_id}</td>
      <td>{alias_name}</td>
      <td>{logins}</td>
      <td><span class="badge status-{status}">{status_label}</span>
</td>
      <td>{requester}</td>
      <td class="text-nowrap">{created}</td>
    </tr>
  """
CHECKBOX = (
    '<input class="form-check-input" type="checkbox" name="request" value="{pk}" '
    'id="select-{pk}" form="approve-selected"><label class="visually-hidden" '
    'for="select-{pk}">Select request #{pk} {alias_id}</label>'
)
KIND_LABELS = dict(AliasRequest.Kind.choices)


def _requested_logins(alias_request: AliasRequest) -> SafeString:
    logins = []
    for login in alias_request.logins.all():
        code = format_html("<code>{}</code>", login.login)
        if login.extension:
            code = format_html(
                '{} <span class="small text-body-secondary">{}</span>',
                code,
                login.extension.protocol,
            )
        logins.append(code)
    return _joined(logins)


@register.simple_tag(takes_context=True)
def request_rows(context, requests: Iterable[AliasRequest], several: bool) -> SafeString:
    """The <tr>s of templates/aliases/_request_table.html; `several`: with a server column.
    Requests read as the selectors read them (requester, logins and their extensions)."""
    perms = context.get("perms")
    can_open_alias = bool(perms and perms["aliases"]["view_alias"])
    selectable = context.get("selectable_ids")
    request_url = int_url("aliases:request_detail")
    alias_url = int_url("aliases:alias_detail")
    labels = dict(server_choices())
    rows = []
    for alias_request in requests:
        pk, alias_id = alias_request.pk, alias_request.alias_id
        select = ""
        if selectable:
            checkbox = (
                format_html(CHECKBOX, pk=number_text(pk), alias_id=alias_id)
                if pk in selectable
                else ""
            )
            select = format_html("<td>{}</td>", checkbox)
        alias_cell = format_html("<code>{}</code>", alias_id)
        if alias_request.alias_record_id and can_open_alias:
            alias_cell = format_html(
                '<a href="{}">{}</a>', alias_url(alias_request.alias_record_id), alias_cell
            )
        server = alias_request.server
        rows.append(
            format_html(
                REQUEST_ROW,
                select=select,
                url=request_url(pk),
                pk=number_text(pk),
                kind=KIND_LABELS.get(alias_request.kind, alias_request.kind),
                server=format_html("<td>{}</td>", labels.get(server, server)) if several else "",
                alias_id=alias_cell,
                alias_name=alias_request.alias_name,
                logins=_requested_logins(alias_request),
                status=alias_request.status,
                status_label=alias_request.get_status_display(),
                requester=alias_request.requester.get_username(),
                created=datetime_text(alias_request.created_at),
            )
        )
    return _joined(rows, "")


INVENTORY_ROW = """
    <tr>
      <td><a href="{url}"><code>{alias_id}</code></a></td>
      <td>{alias_name}</td>
      <td>{server}</td>
      <td>{logins}</td>
      <td><span class="badge alias-{state}">{state_label}</span></td>
      <td class="small">{origin}</td>
      <td>{live}</td>
    </tr>
  """
LIVE_REQUEST = "#{pk} {kind}, {status}"
STATE_LABELS = dict(Alias.State.choices)
ORIGIN_LABELS = dict(Alias.Origin.choices)


def _live_request(live, request_url: Callable[[int], str]) -> SafeString:
    """templates/aliases/_live_request.html, its final newline included."""
    alias_request = live.request
    text = format_html(
        LIVE_REQUEST,
        pk=number_text(alias_request.pk),
        kind=lowerfirst(KIND_LABELS.get(alias_request.kind, alias_request.kind)),
        status=lowerfirst(alias_request.get_status_display()),
    )
    if live.visible:
        return format_html(
            '<a href="{}" data-testid="live-request">{}</a>\n',
            request_url(alias_request.pk),
            text,
        )
    return format_html('<span data-testid="live-request">{}</span>\n', text)


@register.simple_tag
def inventory_rows(rows: Iterable[tuple[Alias, object]], can_see_history: bool) -> SafeString:
    """The <tr>s of templates/aliases/inventory_list.html: (alias, its LiveRequest or None),
    the aliases read with their logins (selectors_inventory.aliases_search)."""
    alias_url = int_url("aliases:alias_detail")
    request_url = int_url("aliases:request_detail")
    history_url = lru_cache(maxsize=None)(extension_history_url)
    labels = dict(server_choices())
    no_request = mark_safe('<span class="text-body-secondary">–</span>')  # noqa: S308 (a constant)
    shown = []
    for alias, live in rows:
        logins = [each.login for each in alias.logins.all()]
        shown.append(
            format_html(
                INVENTORY_ROW,
                url=alias_url(alias.pk),
                alias_id=alias.alias_id,
                alias_name=alias.alias_name,
                server=labels.get(alias.server, alias.server),
                # _alias_logins.html's own final newline, as its include left it.
                logins=format_html(
                    "{}\n",
                    _extension_links(logins, history_url if can_see_history else _no_url),
                ),
                state=alias.state,
                state_label=STATE_LABELS.get(alias.state, alias.state),
                origin=ORIGIN_LABELS.get(alias.origin, alias.origin),
                live=_live_request(live, request_url) if live else no_request,
            )
        )
    return _joined(shown, "")


def _no_url(login: str) -> str:
    return ""


CALL_CARD = """
<div class="card mb-3" data-testid="vicidial-call">
  <div class="card-header d-flex flex-wrap gap-3">
    <strong>{function}</strong>
    <span>attempt {attempt}</span>
    <span>{result}</span>
    <span>HTTP {http_status}</span>
    <span>{duration} ms</span>
    <span class="text-body-secondary">{started}</span>
  </div>
  <div class="card-body">
    {reason}
    {transport_error}
    <p class="small text-body-secondary mb-1">Raw response from {method} {url}</p>
    {response}
  </div>
</div>
"""
RESULT_LABELS = dict(VicidialCall.Result.choices)


def _raw_response(call: VicidialCall, snippet) -> SafeString:
    shown = raw_response_of(
        body=call.response_body,
        received_bytes=call.response_bytes,
        truncated=call.response_truncated,
    )
    return snippet.render({"response": shown})


CATALOGUE_ROW = (
    "\n        <tr><td><code>{login}</code></td>{server}<td>{protocol}</td>"
    "<td>{description}{unconfirmed}</td></tr>\n      "
)
UNCONFIRMED = mark_safe(  # noqa: S308 (a constant)
    ' <span class="badge text-bg-warning">not confirmed in VICIdial</span>'
)


@register.simple_tag
def catalogue_rows(extensions: Iterable, several: bool) -> SafeString:
    """The <tr>s of templates/aliases/request_form.html's catalogue: up to 500 phones, on
    the page every new request opens, 15 to 20 ms of CPU through the template engine."""
    labels: dict[str, str] = {}
    rows = []
    for extension in extensions:
        server = ""
        if several:
            name = extension.server
            if name not in labels:
                labels[name] = server_label(name)
            server = format_html("<td>{}</td>", labels[name])
        rows.append(
            format_html(
                CATALOGUE_ROW,
                login=extension.login,
                server=server,
                protocol=extension.protocol,
                description=extension.description,
                unconfirmed="" if extension.known_to_vicidial else UNCONFIRMED,
            )
        )
    return _joined(rows, "")


@register.simple_tag
def call_cards(calls: Iterable[VicidialCall]) -> SafeString:
    """A card per VICIdial call of a request (templates/aliases/request_detail.html)."""
    snippet = get_template("aliases/_raw_response.html")
    cards = []
    for call in calls:
        cards.append(
            format_html(
                CALL_CARD,
                function=call.function,
                attempt=number_text(call.attempt),
                result=RESULT_LABELS.get(call.result, call.result),
                http_status=number_text(call.http_status) if call.http_status else "–",
                duration="–" if call.duration_ms is None else number_text(call.duration_ms),
                started=datetime_text(call.started_at),
                reason=format_html('<p class="mb-2">Reason: <code>{}</code></p>', call.reason)
                if call.reason
                else "",
                transport_error=format_html(
                    '<p class="mb-2 text-danger">Transport error: {}</p>', call.transport_error
                )
                if call.transport_error
                else "",
                method=call.method,
                url=call.url,
                response=_raw_response(call, snippet),
            )
        )
    return _joined(cards, "")


TIMELINE_ITEM = """
  <li class="list-group-item">
    <strong>{event_type}</strong>
    by {actor}{role},
    {occurred}{outcome}
    {reason}
  </li>
  """


@register.simple_tag
def timeline_items(events: Iterable[AuditEvent]) -> SafeString:
    """The <li>s of a request's timeline (templates/aliases/request_detail.html)."""
    items = []
    for event in events:
        items.append(
            format_html(
                TIMELINE_ITEM,
                event_type=EVENT_TYPE_LABELS.get(event.event_type, event.event_type),
                actor=event.actor_username or "the system",
                role=format_html(" ({})", event.actor_role) if event.actor_role else "",
                occurred=datetime_text(event.occurred_at),
                outcome=format_html(
                    " · {}", outcomes.outcome_label(event.outcome, event.event_type)
                )
                if event.outcome
                else "",
                reason=format_html('<div class="small"><code>{}</code></div>', event.reason)
                if event.reason
                else "",
            )
        )
    return _joined(items, "")
