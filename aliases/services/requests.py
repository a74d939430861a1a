"""Deciding a request: approve (four-eyes, then the VICIdial call), reject, or cancel."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from .. import preflight
from ..audit import AuditContext, EventType, batched
from ..errors import FourEyesViolation, InvalidTransition, VicidialCallsStopped
from ..models import AliasRequest
from ..predicates import cancels_request, is_decider, is_requester, may_cancel_own
from ..vicidial.servers import DEFAULT_SERVER
from .calls import vicidial_client_ready
from .circuit import ensure_vicidial_calls_allowed
from .permissions import require
from .queue import call_enqueue, call_queue_shares_transaction
from .transitions import lock_request, reuse_logins, transition

Status = AliasRequest.Status


def request_server(request_id: int) -> str:
    """The server a request is for (it never changes, so no lock is needed to read it)."""
    found = AliasRequest.objects.filter(pk=request_id).values_list("server", flat=True).first()
    return found or DEFAULT_SERVER


def _decide(
    alias_request: AliasRequest,
    to: str,
    *,
    event_type: str,
    actor: AbstractBaseUser,
    note: str,
    context: AuditContext | None,
    changes: dict | None = None,
) -> None:
    alias_request.decided_by = actor
    alias_request.decided_at = timezone.now()
    alias_request.decision_note = note.strip()
    transition(
        alias_request,
        to,
        event_type=event_type,
        actor=actor,
        context=context,
        reason=alias_request.decision_note,
        changes={"decided_by": [None, actor.get_username()], **(changes or {})},
    )


def _lock_pending(request_id: int) -> AliasRequest:
    alias_request = lock_request(request_id)
    if alias_request.status in (Status.QUEUED, Status.CALLING):
        raise InvalidTransition(
            f"Request #{alias_request.pk} is already being processed: it was approved and "
            "VICIdial is being called. Nothing was changed."
        )
    if alias_request.status != Status.PENDING:
        raise InvalidTransition(
            f"Request #{alias_request.pk} was already decided "
            f"({alias_request.get_status_display().lower()}). Nothing was changed."
        )
    return alias_request


def _read_for_approval(request_id: int, seen: AliasRequest | None) -> AliasRequest | None:
    """The request as the checks before the transaction need it, with its phone logins:
    the caller's read if it has one (the view fetched it to check access), else one here."""
    if seen is not None and seen.pk == request_id:
        return seen
    return AliasRequest.objects.prefetch_related("logins").filter(pk=request_id).first()


def alias_request_approve(
    *,
    request_id: int,
    actor: AbstractBaseUser,
    note: str = "",
    preflight_shown: str = "",
    context: AuditContext | None = None,
    seen: AliasRequest | None = None,
) -> AliasRequest:
    """Approve a pending request and hand its VICIdial call to the task worker.

    The move out of `pending` happens under a row lock, so of two admins (or two clicks)
    exactly one approval queues the call; the worker makes it (services/queue.py), and the
    request's page follows it live. `preflight_shown`: the signed checks the approver's
    page showed (preflight.py). `seen`: the request as the caller just read it (unlocked),
    to spare reading it again; everything that decides is read again under the lock.
    """
    require(actor, is_decider, "approve alias requests")
    read = _read_for_approval(request_id, seen)
    server = read.server if read is not None else DEFAULT_SERVER
    # Checked before the approval commits: a configuration that cannot call refuses it.
    vicidial_client_ready(None, server=server, reference=str(request_id))
    # Before the transaction (it may read VICIdial's database): the checks the approver was
    # shown, kept in the approval's event. A failing one warns; it does not refuse.
    checks, stopped = _preflight_record(read, actor.pk, preflight_shown)
    if stopped:
        # The preflight just read the circuit: no second read. Nothing locks it either way,
        # and the worker checks it again with its slot held before it sends anything.
        raise VicidialCallsStopped(stopped)
    shares_transaction = call_queue_shares_transaction()
    # Durable: the enqueue below the block then always follows the commit.
    with transaction.atomic(durable=True), batched():
        alias_request = _lock_pending(request_id)
        reuse_logins(alias_request, read)
        if not checks:  # not pending when read: _lock_pending has raised, unless it raced
            ensure_vicidial_calls_allowed(server)
        approve_locked(alias_request, actor=actor, note=note, context=context, changes=checks)
        if shares_transaction:
            # The task row commits with the decision, or neither does.
            enqueued = call_enqueue(alias_request.pk, context)
    if not shares_transaction:
        # Another backend may run the task at once, or elsewhere: only after the commit.
        enqueued = call_enqueue(alias_request.pk, context)
    if enqueued is not None and enqueued.is_finished:
        # A backend that runs tasks at once (the tests') has recorded the outcome already.
        alias_request.refresh_from_db()
    return alias_request


def approve_locked(
    alias_request: AliasRequest,
    *,
    actor: AbstractBaseUser,
    note: str,
    context: AuditContext | None,
    changes: dict | None = None,
) -> None:
    """Approve a pending request whose row lock the caller holds: four-eyes, then queued
    for the worker. The caller enqueues the call once the transaction commits."""
    if is_requester(actor, alias_request):
        raise FourEyesViolation(
            "You cannot approve your own request; another admin has to decide it."
        )
    alias_request.queued_by = actor
    _decide(
        alias_request,
        Status.QUEUED,
        event_type=EventType.REQUEST_APPROVED,
        actor=actor,
        note=note,
        context=context,
        changes=changes,
    )


def _preflight_record(
    pending: AliasRequest | None, actor_pk: int, shown_token: str
) -> tuple[dict[str, Any], str]:
    """The checks as the approver's page showed them, and as they stand now if different;
    without a valid page token (the admin's bulk action, a script, a forged, borrowed or
    stale token) the checks now, and why none count as shown. Second: why calls to the
    server are stopped now ("" if they are not), as the circuit check found."""
    if pending is None or pending.status != Status.PENDING:
        return {}, ""  # _lock_pending says why
    checks = preflight.preflight_checks(pending)
    stopped = next((c.detail for c in checks if c.key == preflight.CIRCUIT_CHECK and not c.ok), "")
    now = [check.as_record() for check in checks]
    shown = preflight.checks_shown(pending.pk, actor_pk, shown_token)
    if shown.problem:
        return {"preflight": now, "preflight_shown": shown.problem}, stopped
    record = {"preflight": shown.checks, "preflight_shown_at": shown.shown_at}
    if shown.checks != now:
        record["preflight_at_approval"] = now
    return record, stopped


def alias_request_reject(
    *,
    request_id: int,
    actor: AbstractBaseUser,
    note: str,
    context: AuditContext | None = None,
) -> AliasRequest:
    require(actor, is_decider, "reject alias requests")
    if not note.strip():
        raise ValidationError("Give the requester a reason for the rejection.", code="required")
    with transaction.atomic():
        alias_request = _lock_pending(request_id)
        if is_requester(actor, alias_request):
            raise FourEyesViolation(
                "You cannot decide your own request; cancel it instead, or ask another admin."
            )
        _decide(
            alias_request,
            Status.REJECTED,
            event_type=EventType.REQUEST_REJECTED,
            actor=actor,
            note=note,
            context=context,
        )
    return alias_request


def alias_request_cancel(
    *, request_id: int, actor: AbstractBaseUser, context: AuditContext | None = None
) -> AliasRequest:
    require(actor, may_cancel_own, "cancel alias requests")
    with transaction.atomic():
        alias_request = _lock_pending(request_id)
        if not cancels_request.test(actor, alias_request):
            raise PermissionDenied("Only the person who asked for it can cancel a request.")
        transition(
            alias_request,
            Status.CANCELLED,
            event_type=EventType.REQUEST_CANCELLED,
            actor=actor,
            context=context,
        )
    return alias_request
