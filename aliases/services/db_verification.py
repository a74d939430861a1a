"""Settling an unknown outcome from what VICIdial's own database holds.

A call whose answer was lost (timeout, reset, garbage, a process that died) may or may not
have been carried out. VICIdial's `phones_alias` row says which, once no call of the request
can still be under way: only after a settling delay longer than the call's deadline. The
row is read with no transaction open; the request row, then the alias row, are locked only
to record what it showed, and the audit record comes last.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import formats, timezone

from ..audit import AuditContext, EventType, record
from ..errors import InvalidTransition, PortalError
from ..models import AliasRequest, VicidialCall
from ..predicates import is_decider
from ..validators import same_logins
from ..vicidial.servers import raw_server_settings
from ..vicidial_db import VicidialAliasRow, VicidialDatabase, VicidialDatabaseError, fetch_alias
from .inventory import inventory_apply
from .permissions import require
from .transitions import lock_request, transition
from .vicidial_reads import server_database, servers_with_database

Status = AliasRequest.Status
Kind = AliasRequest.Kind

# Beyond the deadline: VICIdial may finish a request its caller has given up on.
SETTLE_MARGIN_SECONDS = 10.0


class VerificationNotDue(PortalError):
    """Too early: a call of the request could still be changing VICIdial."""


class Finding(StrEnum):
    INTENDED = "intended"
    PREVIOUS = "previous"
    NEITHER = "neither"
    UNREADABLE = "unreadable"


DONE = {
    Kind.ADD: "the alias was created",
    Kind.CHANGE: "the change was made",
    Kind.DISABLE: "the alias was removed",
    Kind.ENABLE: "the alias was created again",
}
VERIFIED_DONE = "Verified from VICIdial's database: {done} ({found})."
VERIFIED_NOT_DONE = (
    "Verified from VICIdial's database: the change was not made ({found}). "
    "Nothing is left half-done; ask again if it is still needed."
)
SHOWS_NEITHER = (
    "VICIdial's database shows neither the requested nor the earlier state of the alias "
    "({found}): an admin decides. Check VICIdial, then record the outcome or retry."
)
UNREADABLE = (
    "VICIdial's database could not be read ({error}): an admin decides, or the check runs "
    "again with reconcile_inflight."
)
NOT_DUE = (
    "VICIdial's database is checked only after {due}, when no call of request #{pk} can "
    "still be under way. Nothing was changed; try again then."
)


def settle_delay(server: str) -> timedelta:
    """How long after a request's last call VICIdial's database may settle it."""
    values = raw_server_settings(server)
    configured = values.get("SETTLE_DELAY")
    if configured in (None, ""):
        return timedelta(seconds=float(values["TOTAL_DEADLINE"]) + SETTLE_MARGIN_SECONDS)
    return timedelta(seconds=float(configured))


def vicidial_database(server: str) -> VicidialDatabase | None:
    """The server's read-only database, or None when none is configured (or the server is
    no longer configured at all). A malformed URL raises VicidialDatabaseError."""
    if server not in servers_with_database():
        return None
    return server_database(server)


def _last_call(alias_request: AliasRequest) -> VicidialCall | None:
    return alias_request.calls.order_by("-started_at", "-id").first()


def verification_due_at(alias_request: AliasRequest) -> datetime:
    """When the database may settle the request: the settling delay after its last call
    ended (or started, if its end was never recorded)."""
    last = _last_call(alias_request)
    since = (last.finished_at or last.started_at) if last else alias_request.updated_at
    return since + settle_delay(alias_request.server)


def shown_time(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def row_matches(row: VicidialAliasRow | None, name: str, logins: Sequence[str]) -> bool:
    return row is not None and row.alias_name == name and same_logins(row.logins, logins)


def _sent_fields_match(
    alias_request: AliasRequest, row: VicidialAliasRow | None, name: str, logins: Sequence[str]
) -> bool:
    """A change sends only what changes, so only those fields tell its outcome: a name that
    drifted in VICIdial meanwhile says nothing about a change of phones."""
    if row is None:
        return False
    name_ok = row.alias_name == name or not alias_request.name_changes
    logins_ok = same_logins(row.logins, logins) or not alias_request.logins_change
    return name_ok and logins_ok


def describe_row(alias_id: str, row: VicidialAliasRow | None) -> str:
    if row is None:
        return f"it holds no alias {alias_id!r}"
    return (
        f"it holds alias {row.alias_id!r} named {row.alias_name!r} ringing "
        f"{row.logins_list or 'no phone'}"
    )


def database_finding(alias_request: AliasRequest, row: VicidialAliasRow | None) -> Finding:
    """Whether the row is the state the request asked for, the state before it, or neither."""
    after = (alias_request.alias_name, alias_request.logins_in_order())
    before = (alias_request.previous_name, alias_request.previous_logins)
    kind = alias_request.kind
    if kind == Kind.DISABLE:
        intended, previous = row is None, row_matches(row, *before)
    elif kind == Kind.CHANGE:
        intended, previous = (
            _sent_fields_match(alias_request, row, *after),
            _sent_fields_match(alias_request, row, *before),
        )
    else:  # add, enable: VICIdial held no such alias before
        intended, previous = row_matches(row, *after), row is None
    if intended:
        return Finding.INTENDED
    return Finding.PREVIOUS if previous else Finding.NEITHER


def _read_row(
    target: VicidialDatabase, alias_request: AliasRequest
) -> tuple[Finding, VicidialAliasRow | None, str]:
    """What the database shows, and the reason to record. Runs outside any transaction."""
    try:
        row = fetch_alias(target, alias_request.alias_id)
    except VicidialDatabaseError as error:
        return Finding.UNREADABLE, None, UNREADABLE.format(error=error)
    finding = database_finding(alias_request, row)
    found = describe_row(alias_request.alias_id, row)
    if finding == Finding.INTENDED:
        reason = VERIFIED_DONE.format(done=DONE[Kind(alias_request.kind)], found=found)
    elif finding == Finding.PREVIOUS:
        reason = VERIFIED_NOT_DONE.format(found=found)
    else:
        reason = SHOWS_NEITHER.format(found=found)
    return finding, row, reason


def _unverified(request_id: int) -> AliasRequest:
    alias_request = AliasRequest.objects.get(pk=request_id)
    if alias_request.status != Status.NEEDS_VERIFICATION:
        raise InvalidTransition(
            f"Request #{alias_request.pk} is {alias_request.get_status_display().lower()}, "
            "not waiting for verification. Nothing was changed."
        )
    return alias_request


def _verify(
    request_id: int, *, actor: AbstractBaseUser | None, context: AuditContext | None
) -> tuple[AliasRequest, bool]:
    """Settle one request from the database; the request, and whether anything was recorded."""
    alias_request = _unverified(request_id)
    target = server_database(alias_request.server)
    due = verification_due_at(alias_request)
    if timezone.now() < due:
        raise VerificationNotDue(NOT_DUE.format(due=shown_time(due), pk=alias_request.pk))
    last_call = _last_call(alias_request)
    finding, row, reason = _read_row(target, alias_request)
    evidence = row.as_evidence() if row else None
    with transaction.atomic():
        alias_request = lock_request(request_id)
        if alias_request.status != Status.NEEDS_VERIFICATION or _last_call(alias_request) != (
            last_call
        ):
            # Settled or retried while the database was read: what it showed may be stale.
            return alias_request, False
        if finding in (Finding.INTENDED, Finding.PREVIOUS):
            done = finding == Finding.INTENDED
            inventory = inventory_apply(alias_request) if done else {}
            transition(
                alias_request,
                Status.SUCCEEDED if done else Status.FAILED,
                event_type=EventType.REQUEST_VERIFIED_FROM_DATABASE,
                actor=actor,
                context=context,
                reason=reason,
                outcome_reason=reason,
                changes={"found": finding.value, "evidence": evidence, **inventory},
            )
            return alias_request, True
        if alias_request.outcome_reason == reason:
            return alias_request, False  # checked before with the same result: nothing new
        alias_request.outcome_reason = reason
        alias_request.save(update_fields=["outcome_reason", "updated_at"])
        record(
            event_type=EventType.REQUEST_VERIFIED_FROM_DATABASE,
            actor=actor,
            context=context,
            request=alias_request,
            extensions=alias_request.logins_touched(),
            outcome=alias_request.status,
            reason=reason,
            changes={"found": finding.value, "evidence": evidence},
        )
    return alias_request, True


def alias_request_verify_from_database(
    *,
    request_id: int,
    actor: AbstractBaseUser | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Settle an unknown outcome from the server's database, once its settling delay has
    passed: done, not done, or (neither state, or unreadable) still for an admin to decide.

    Not a decision of the actor's (the database decides), so a requester who is an admin
    may ask for it too."""
    if actor is not None:
        require(actor, is_decider, "check VICIdial's database for alias requests")
    alias_request, _ = _verify(request_id, actor=actor, context=context)
    return alias_request


def alias_requests_verify_from_database(
    *, context: AuditContext | None = None
) -> list[AliasRequest]:
    """Check every request whose outcome is unknown, whose server has a database and whose
    settling delay has passed; the requests for which something new was recorded."""
    checked = []
    waiting = AliasRequest.objects.filter(status=Status.NEEDS_VERIFICATION).order_by("pk")
    for alias_request in waiting:
        try:
            if vicidial_database(alias_request.server) is None:
                continue
            alias_request, changed = _verify(alias_request.pk, actor=None, context=context)
        except (PortalError, AliasRequest.DoesNotExist):
            # Not due yet, settled meanwhile, or a malformed database URL.
            continue
        if changed:
            checked.append(alias_request)
    return checked
