"""The admin's exact search: one indexed lookup per key, and the rows whose id any of them found.

An OR of the same conditions across the tables' joins makes PostgreSQL walk a whole table
(all 2 million audit events, newest first, for a term that matches none); each key alone is
an index lookup. So a search runs the lookups (one UNION query, answered from the indexes)
and the changelist filters on the ids they found, given as a list: the planner then knows
how few rows that is (and, unnested as rows, fetches them by key: lookups.AmongFound). A nested
subquery instead was estimated at thousands of rows for a username that matches none, and
the calls table read whole.

A term that matches more than SEARCH_CAP rows searches the newest SEARCH_CAP of them (by
id, which grows with time), and the filters then apply to those: a list of ten thousand ids
costs the page seconds. An extension's whole story is its history page.

The keys are those of the admin's search box: exact extension login (any letter case, as
VICIdial and the index have it), alias ID (any case), username, correlation ID, and for calls
the `source` VICIdial logged.
"""

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import QuerySet
from django.db.models.functions import Lower

from .lookups import id_in
from .models import (
    Alias,
    AliasLogin,
    AliasRequest,
    AuditEvent,
    AuditEventExtension,
    Extension,
    RequestedLogin,
    VicidialCall,
)

SEARCH_CAP = 1_000


def _newest_ids(*lookups: QuerySet) -> list[int]:
    # Each arm unordered (a compound statement takes no ORDER BY, and none is needed), but
    # an arm already cut to its newest SEARCH_CAP (_newest_of).
    first, *others = (lookup if lookup.query.is_sliced else lookup.order_by() for lookup in lookups)
    found = {pk for pk in first.union(*others) if pk is not None}
    return sorted(found, reverse=True)[:SEARCH_CAP]


def _newest_of(lookup: QuerySet, field: str) -> QuerySet:
    """`lookup` (values of `field`) cut to its newest SEARCH_CAP, for an arm whose index ends
    in `field`: read backwards, that is SEARCH_CAP index entries where the busiest extension
    has 18,000 to hash and send. Only there: without such an index, ordering by id would let
    PostgreSQL walk the whole table newest first. SQLite takes no LIMIT in a compound arm."""
    if not connections[lookup.db].features.supports_slicing_ordering_in_compound:
        return lookup
    return lookup.order_by(f"-{field}")[:SEARCH_CAP]


def _users_named(term: str) -> QuerySet:
    # Usernames are matched as typed: Django's own username lookup is case-sensitive.
    return get_user_model().objects.filter(username=term).values_list("pk", flat=True)


def _requests_with_alias_id(key: str) -> QuerySet:
    return AliasRequest.objects.filter(alias_id__lower=key).values_list("pk", flat=True)


def _events_with_correlation_id(key: str) -> QuerySet:
    return AuditEvent.objects.filter(correlation_id=key)


def audit_event_ids(term: str) -> list[int]:
    key = term.lower()
    return _newest_ids(
        # auditeventext_login_ci: (lower(login), event_id).
        _newest_of(
            AuditEventExtension.objects.filter(login__lower=key).values_list("event_id", flat=True),
            "event_id",
        ),
        AuditEvent.objects.filter(request__in=_requests_with_alias_id(key)).values_list(
            "pk", flat=True
        ),
        AuditEvent.objects.filter(actor_username__lower=key).values_list("pk", flat=True),
        _events_with_correlation_id(key).values_list("pk", flat=True),
    )


def alias_request_ids(term: str) -> list[int]:
    key = term.lower()
    return _newest_ids(
        _requests_with_alias_id(key),
        RequestedLogin.objects.filter(login__lower=key).values_list("request_id", flat=True),
        AliasRequest.objects.filter(requester__in=_users_named(term)).values_list("pk", flat=True),
        AliasRequest.objects.filter(decided_by__in=_users_named(term)).values_list("pk", flat=True),
        _events_with_correlation_id(key)
        .filter(request__isnull=False)
        .values_list("request_id", flat=True),
    )


def vicidial_call_ids(term: str) -> list[int]:
    key = term.lower()
    return _newest_ids(
        # vicidialcall_request_newest: (request, id). The busiest extension's thousand
        # requests have ten thousand calls: the newest SEARCH_CAP come from the index.
        _newest_of(
            VicidialCall.objects.filter(id_in("request", alias_request_ids(term))).values_list(
                "pk", flat=True
            ),
            "pk",
        ),
        VicidialCall.objects.filter(initiated_by__in=_users_named(term)).values_list(
            "pk", flat=True
        ),
        _events_with_correlation_id(key)
        .filter(call__isnull=False)
        .values_list("call_id", flat=True),
        VicidialCall.objects.filter(source__lower=key).values_list("pk", flat=True),
    )


def extension_ids(term: str) -> list[int]:
    """The extension of that login, and those the audit events matching `term` concern."""
    key = term.lower()
    touched = (
        AuditEventExtension.objects.filter(id_in("event", audit_event_ids(term)))
        .annotate(key=Lower("login"))
        .values_list("key", flat=True)
    )
    return _newest_ids(
        Extension.objects.filter(login__lower=key).values_list("pk", flat=True),
        Extension.objects.filter(login__lower__in=touched).values_list("pk", flat=True),
    )


def alias_ids(term: str) -> list[int]:
    """Inventory rows by exact alias ID or exact phone login, any case (VICIdial's rule)."""
    key = term.lower()
    return _newest_ids(
        Alias.objects.filter(alias_id__lower=key).values_list("pk", flat=True),
        AliasLogin.objects.filter(login__lower=key).values_list("alias_id", flat=True),
    )
