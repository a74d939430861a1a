"""Read-side queries; who may see what is decided here and nowhere else."""

from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from .lookups import id_in
from .models import (
    AliasRequest,
    AuditEvent,
    AuditEventExtension,
    Extension,
    RequestedLogin,
    VicidialCall,
)
from .pagination import COUNT_CAP
from .predicates import requests_seen_by

# More than the list's capped count, so that it still reads "more than 10,000".
LOGIN_SEARCH_CAP = COUNT_CAP + 1


def _with_related(queryset: QuerySet[AliasRequest]) -> QuerySet[AliasRequest]:
    return queryset.select_related("requester", "decided_by").prefetch_related(
        Prefetch(
            "logins",
            queryset=RequestedLogin.objects.select_related("extension").order_by("position"),
        )
    )


# What templates/aliases/_request_table.html shows of a request (portal_rows.request_rows),
# and what the bulk approval's checkboxes ask of it (predicates.OFFERS["can_decide"]): not
# the texts, the diff's "before" (JSON to decode per row), the decider, nor the requester's
# password hash and dates, which the request's own page reads.
IN_REQUEST_TABLES = (
    *("kind", "server", "alias_id", "alias_record_id", "alias_name", "status", "created_at"),
    *("requester", "requester__username"),
)
# Of each requested login, the login and its phone's protocol.
LOGINS_IN_REQUEST_TABLES = Prefetch(
    "logins",
    queryset=RequestedLogin.objects.select_related("extension")
    .only("request", "login", "position", "extension__protocol")
    .order_by("position"),
)


def for_request_table(queryset: QuerySet[AliasRequest]) -> QuerySet[AliasRequest]:
    """`queryset` read for a table of requests, only the columns the table shows: building
    fewer fields per row is most of what a page of 50 requests saves."""
    return (
        queryset.select_related(None)
        .select_related("requester")
        .prefetch_related(None)
        .prefetch_related(LOGINS_IN_REQUEST_TABLES)
        .only(*IN_REQUEST_TABLES)
    )


def alias_requests_visible_to(*, user: AbstractBaseUser) -> QuerySet[AliasRequest]:
    # A supervisor whose role was withdrawn no longer sees even their own requests.
    return _with_related(AliasRequest.objects.filter(requests_seen_by(user)))


def alias_requests_pending() -> QuerySet[AliasRequest]:
    return _with_related(AliasRequest.objects.filter(status=AliasRequest.Status.PENDING)).order_by(
        "created_at"
    )


NEEDING_ATTENTION = (
    AliasRequest.Status.NEEDS_VERIFICATION,
    AliasRequest.Status.QUEUED,
    AliasRequest.Status.CALLING,
)


def alias_requests_needing_attention(*, oldest: int) -> QuerySet[AliasRequest]:
    """The `oldest` requests in flight or needing verification, oldest first.

    Each status's oldest are read from its own index (status, -created_at), and the page
    then reads those rows by id. In one walk of the created_at index with the statuses as a
    filter, PostgreSQL passed 4,000 finished requests to find its 50 (about one in a hundred
    is in flight), and more as the table grows. SQLite takes no LIMIT in a compound arm."""
    rows = AliasRequest.objects.filter(status__in=NEEDING_ATTENTION)
    if connections[rows.db].features.supports_slicing_ordering_in_compound:
        first, *others = (
            AliasRequest.objects.filter(status=status).order_by("created_at").values("pk")[:oldest]
            for status in NEEDING_ATTENTION
        )
        rows = AliasRequest.objects.filter(pk__in=first.union(*others, all=True))
    return _with_related(rows).order_by("created_at")[:oldest]


def alias_requests_search(
    queryset: QuerySet[AliasRequest],
    *,
    alias_id: str = "",
    login: str = "",
    status: str = "",
    kind: str = "",
    server: str = "",
) -> QuerySet[AliasRequest]:
    """Exact, index-backed matches: login 1001 never finds 10010."""
    if alias_id:
        queryset = queryset.filter(alias_id__lower=alias_id.strip().lower())
    if login:
        queryset = queryset.filter(id_in("pk", request_ids_with_login(login)))
    if status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    if server:
        queryset = queryset.filter(server=server)
    return queryset


def request_ids_with_login(login: str) -> list[int]:
    """The newest LOGIN_SEARCH_CAP requests (by id) that ask for `login`, from its index.

    Looked up on its own, then given to the page as a list of ids: joined to the requests
    (a DISTINCT over every column), or even as an IN subquery, PostgreSQL walks the requests
    newest first and probes each one's logins, which reads all 100,000 for a login that none
    asks for. The lookup costs what the login's own requests cost, whatever the table's size.
    """
    rows = RequestedLogin.objects.filter(login__lower=login.strip().lower())
    ids = sorted(set(rows.values_list("request_id", flat=True)), reverse=True)
    return ids[:LOGIN_SEARCH_CAP]


def calls_for_request(*, alias_request: AliasRequest) -> QuerySet[VicidialCall]:
    # Not what was sent nor the parsed answer (JSON to decode per call): the page shows neither.
    return alias_request.calls.defer("sent_params", "response_data").order_by("started_at", "id")


def audit_events_filtered(
    *,
    extension: str = "",
    alias_id: str = "",
    actor: str = "",
    correlation_id: str = "",
    event_type: str = "",
    outcome: str = "",
    server: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events matching every filter given; each filter is an exact, indexed match
    (but `server`, an exact match on the rows the other filters leave)."""
    queryset = AuditEvent.objects.select_related("request", "call")
    if server:
        queryset = queryset.filter(audit_events_on_server(server))
    if extension:
        queryset = queryset.filter(
            pk__in=AuditEventExtension.objects.filter(
                login__lower=extension.strip().lower()
            ).values("event_id")
        )
    if alias_id:
        queryset = queryset.filter(request__alias_id__lower=alias_id.strip().lower())
    if actor:
        queryset = queryset.filter(actor_username__lower=actor.strip().lower())
    if correlation_id:
        queryset = queryset.filter(correlation_id=correlation_id.strip().lower())
    if event_type:
        queryset = queryset.filter(event_type=event_type)
    if outcome:
        queryset = queryset.filter(outcome=outcome)
    # Dates are days of the zone the pages show, as [start of day, start of next day) ranges
    # on occurred_at, so its index serves them (a __date lookup would compute every row).
    # A day past what the database holds (None) leaves that end open.
    starts = start_of_day(since) if since else None
    if starts:
        queryset = queryset.filter(occurred_at__gte=starts)
    ends = start_of_day(until + timedelta(days=1)) if until and until < date.max else None
    if ends:
        queryset = queryset.filter(occurred_at__lt=ends)
    return queryset.order_by("-sequence")


def start_of_day(day: date) -> datetime | None:
    """Midnight of `day` in the current time zone; None for a day the database cannot hold."""
    try:
        start = timezone.make_aware(datetime.combine(day, time.min))
        start.astimezone(UTC)  # year 1 in a zone east of UTC falls before year 1 in UTC
    except (OverflowError, ValueError):
        return None
    return start


def extension_catalogue(*, server: str | None = None, limit: int = 500) -> QuerySet[Extension]:
    """One server's catalogue, or (None) every server's, a login's rows side by side."""
    rows = Extension.objects.all() if server is None else Extension.objects.filter(server=server)
    return rows.order_by("login", "server")[:limit]


def extensions_by_login(*, login: str) -> QuerySet[Extension]:
    """The catalogue's entries for a login: one per VICIdial server that has the phone."""
    return Extension.objects.filter(login__lower=login.lower()).order_by("server")


# What a request's timeline shows of each event; not its call, whose answer (up to the body
# cap) the calls above show once.
TIMELINE_FIELDS = ("sequence", "occurred_at", "event_type", "actor_username", "actor_role")


def request_timeline(*, alias_request: AliasRequest) -> QuerySet[AuditEvent]:
    events = alias_request.audit_events.only(*TIMELINE_FIELDS, "outcome", "reason", "request")
    return events.order_by("sequence")


def audit_events_on_server(server: str) -> Q:
    """Events about one VICIdial server: through their request or call, or, for events with
    neither (adopt, drift, circuit, catalogue sync), the server their changes record. The
    joins are the ones select_related makes anyway, so it stays one query."""
    return Q(request__server=server) | Q(call__server=server) | Q(changes__server=server)
