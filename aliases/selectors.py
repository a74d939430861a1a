"""Read-side queries; who may see what is decided here and nowhere else."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from .models import (
    AliasLogin,
    AliasRequest,
    AuditEvent,
    AuditEventExtension,
    Extension,
    RequestedLogin,
    VicidialCall,
)
from .predicates import requests_seen_by


def _with_related(queryset: QuerySet[AliasRequest]) -> QuerySet[AliasRequest]:
    return queryset.select_related("requester", "decided_by").prefetch_related(
        Prefetch(
            "logins",
            queryset=RequestedLogin.objects.select_related("extension").order_by("position"),
        )
    )


def alias_requests_visible_to(*, user: AbstractBaseUser) -> QuerySet[AliasRequest]:
    # A supervisor whose role was withdrawn no longer sees even their own requests.
    return _with_related(AliasRequest.objects.filter(requests_seen_by(user)))


def alias_requests_pending() -> QuerySet[AliasRequest]:
    return _with_related(AliasRequest.objects.filter(status=AliasRequest.Status.PENDING)).order_by(
        "created_at"
    )


def alias_requests_needing_attention() -> QuerySet[AliasRequest]:
    return _with_related(
        AliasRequest.objects.filter(
            status__in=[
                AliasRequest.Status.NEEDS_VERIFICATION,
                AliasRequest.Status.QUEUED,
                AliasRequest.Status.CALLING,
            ]
        )
    ).order_by("created_at")


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
        queryset = queryset.filter(logins__login__lower=login.strip().lower()).distinct()
    if status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    if server:
        queryset = queryset.filter(server=server)
    return queryset


def calls_for_request(*, alias_request: AliasRequest) -> QuerySet[VicidialCall]:
    return alias_request.calls.order_by("started_at", "id")


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


@dataclass(frozen=True)
class EventPage:
    """A page of events, newest first, with the sequences its newer/older links start from.

    Keyset pagination: each look at the trail adds an event at its head, which would shift
    every offset-numbered page by one; "before #n" always means the same rows. No COUNT.
    """

    events: list[AuditEvent]
    newer_than: int | None = None  # link ?after=<this> when newer events exist
    older_than: int | None = None  # link ?before=<this> when older events exist

    @property
    def shown(self) -> list[int]:
        return [self.events[0].sequence, self.events[-1].sequence] if self.events else []


def audit_events_page(
    events: QuerySet[AuditEvent], *, size: int, before: int | None = None, after: int | None = None
) -> EventPage:
    if after is not None:
        rows = list(events.filter(sequence__gt=after).order_by("sequence")[: size + 1])
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        has_older = bool(rows) and events.filter(sequence__lt=rows[-1].sequence).exists()
    else:
        window = events if before is None else events.filter(sequence__lt=before)
        rows = list(window.order_by("-sequence")[: size + 1])
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = (
            bool(rows)
            and before is not None
            and (events.filter(sequence__gt=rows[0].sequence).exists())
        )
    return EventPage(
        events=rows,
        newer_than=rows[0].sequence if has_newer else None,
        older_than=rows[-1].sequence if has_older else None,
    )


def extension_catalogue(*, server: str | None = None, limit: int = 500) -> QuerySet[Extension]:
    """One server's catalogue, or (None) every server's, a login's rows side by side."""
    rows = Extension.objects.all() if server is None else Extension.objects.filter(server=server)
    return rows.order_by("login", "server")[:limit]


def extensions_by_login(*, login: str) -> QuerySet[Extension]:
    """The catalogue's entries for a login: one per VICIdial server that has the phone."""
    return Extension.objects.filter(login__lower=login.lower()).order_by("server")


def request_timeline(*, alias_request: AliasRequest) -> QuerySet[AuditEvent]:
    return alias_request.audit_events.select_related("call").order_by("sequence")


# Admin search: one term, matched exactly against every key an auditor starts from (an
# extension, an alias ID, a username, a correlation id), each through an indexed column.
def _users_named(term: str) -> QuerySet:
    return get_user_model().objects.filter(username=term).values("pk")


def _events_with_correlation_id(term: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(correlation_id=term.lower())


def audit_events_on_server(server: str) -> Q:
    """Events about one VICIdial server: through their request or call, or, for events with
    neither (adopt, drift, circuit, catalogue sync), the server their changes record. The
    joins are the ones select_related makes anyway, so it stays one query."""
    return Q(request__server=server) | Q(call__server=server) | Q(changes__server=server)


def audit_events_matching(term: str) -> Q:
    return (
        Q(pk__in=AuditEventExtension.objects.filter(login__lower=term.lower()).values("event_id"))
        | Q(request__alias_id__lower=term.lower())
        | Q(actor_username__lower=term.lower())
        | Q(correlation_id=term.lower())
    )


def alias_requests_matching(term: str) -> Q:
    return (
        Q(alias_id__lower=term.lower())
        | Q(pk__in=RequestedLogin.objects.filter(login__lower=term.lower()).values("request_id"))
        | Q(requester__in=_users_named(term))
        | Q(decided_by__in=_users_named(term))
        | Q(pk__in=_events_with_correlation_id(term).values("request_id"))
    )


def vicidial_calls_matching(term: str) -> Q:
    return (
        Q(request__in=AliasRequest.objects.filter(alias_requests_matching(term)).values("pk"))
        | Q(initiated_by__in=_users_named(term))
        | Q(pk__in=_events_with_correlation_id(term).values("call_id"))
        | Q(source__lower=term.lower())
    )


def aliases_matching(term: str) -> Q:
    """Inventory rows by exact alias ID or exact phone login, any case (VICIdial's rule)."""
    return Q(alias_id__lower=term.lower()) | Q(
        pk__in=AliasLogin.objects.filter(login__lower=term.lower()).values("alias_id")
    )


def extensions_matching(term: str) -> Q:
    touched = AuditEventExtension.objects.filter(
        event__in=AuditEvent.objects.filter(audit_events_matching(term)).values("pk")
    )
    return Q(login__lower=term.lower()) | Q(
        login__lower__in=touched.annotate(key=Lower("login")).values("key")
    )
