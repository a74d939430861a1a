"""The admin's exact search: one indexed lookup per key, and the rows whose id any of them found.

An OR of the same conditions across the tables' joins makes PostgreSQL walk a whole table
(all 2 million audit events, newest first, for a term that matches none); each key alone is
an index lookup. So a search runs the lookups (one UNION query, answered from the indexes)
and the changelist filters on the ids they found, given as a list: the planner then knows
how few rows that is. A nested subquery instead was estimated at thousands of rows for a
username that matches none, and the calls table read whole.

A term that matches more than SEARCH_CAP rows searches the newest SEARCH_CAP of them (by
id, which grows with time), and the filters then apply to those: a list of ten thousand ids
costs the page seconds. An extension's whole story is its history page.

The keys are those of the admin's search box: exact extension login (any letter case, as
VICIdial and the index have it), alias ID (any case), username, correlation ID, and for calls
the `source` VICIdial logged.
"""

from django.contrib.auth import get_user_model
from django.db.models import F, Lookup, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import In

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


class AnyOf(Lookup):
    """`field IN (ids)` given as one array on PostgreSQL (`= ANY(%s)`): Django builds a
    thousand-id IN list one parameter at a time, a few milliseconds of Python per query,
    and a changelist runs it twice (count and page). The planner reads the array as it
    read the list."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        return In(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = compiler.compile(self.lhs)
        return f"{lhs} = ANY(%s)", (*lhs_params, [int(pk) for pk in self.rhs])


def id_in(field: str, ids: list[int]) -> AnyOf:
    return AnyOf(F(field), ids)


def _newest_ids(*lookups: QuerySet) -> list[int]:
    # Each arm unordered: a compound statement takes no ORDER BY, and none is needed.
    first, *others = (lookup.order_by() for lookup in lookups)
    found = {pk for pk in first.union(*others) if pk is not None}
    return sorted(found, reverse=True)[:SEARCH_CAP]


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
        AuditEventExtension.objects.filter(login__lower=key).values_list("event_id", flat=True),
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
        VicidialCall.objects.filter(id_in("request", alias_request_ids(term))).values_list(
            "pk", flat=True
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
