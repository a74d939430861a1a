"""Settling requests whose VICIdial outcome is unknown, and calls a dead process left behind."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import FourEyesViolation, InvalidTransition
from ..models import AliasRequest, VicidialCall
from ..predicates import is_decider, is_requester
from .calls import vicidial_client_ready
from .circuit import ensure_vicidial_calls_allowed
from .inventory import inventory_apply
from .permissions import require
from .queue import call_enqueue
from .requests import request_server
from .transitions import lock_request, transition

Status = AliasRequest.Status
RECONCILED_ERROR = "no outcome recorded: the portal process stopped while the call was in flight"
STOPPED_MID_CALL = "The portal stopped before VICIdial's answer was recorded; check VICIdial."
ANSWERED_NOT_SETTLED = (
    "VICIdial answered (the call keeps its answer), but the portal could not record the "
    "request's outcome; check VICIdial."
)
STOPPED_BEFORE_CALLING = (
    "The portal stopped before it called VICIdial: nothing was sent for this approval."
)
STOPPED_BEFORE_RETRYING = (
    "The portal stopped before it sent the retry; the earlier call's outcome is still "
    "unknown: check VICIdial."
)


def _lock_unverified(request_id: int, actor: AbstractBaseUser) -> AliasRequest:
    alias_request = lock_request(request_id)
    if alias_request.status != Status.NEEDS_VERIFICATION:
        raise InvalidTransition(
            f"Request #{alias_request.pk} is {alias_request.get_status_display().lower()}, "
            "not waiting for verification. Nothing was changed."
        )
    if is_requester(actor, alias_request):
        raise FourEyesViolation("You cannot settle your own request; ask another admin.")
    return alias_request


def alias_request_retry(
    *,
    request_id: int,
    actor: AbstractBaseUser,
    note: str = "",
    context: AuditContext | None = None,
) -> AliasRequest:
    """Make the request's call again, on an admin's explicit word only: queued for the
    worker, like an approval."""
    require(actor, is_decider, "retry alias requests")
    server = request_server(request_id)
    # Checked before the retry commits: a bad configuration refuses it.
    vicidial_client_ready(None, server=server, reference=str(request_id))
    with transaction.atomic():
        alias_request = _lock_unverified(request_id, actor)
        ensure_vicidial_calls_allowed(server)
        alias_request.queued_by = actor
        transition(
            alias_request,
            Status.QUEUED,
            event_type=EventType.REQUEST_RETRIED,
            actor=actor,
            context=context,
            reason=note.strip(),
        )
    call_enqueue(alias_request.pk, context)
    return AliasRequest.objects.get(pk=alias_request.pk)


def alias_request_settle(
    *,
    request_id: int,
    actor: AbstractBaseUser,
    done_in_vicidial: bool,
    note: str,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Record what an admin found in VICIdial: the request was carried out there, or not."""
    require(actor, is_decider, "settle alias requests")
    if not note.strip():
        raise ValidationError("Say what you checked in VICIdial.", code="required")
    with transaction.atomic():
        alias_request = _lock_unverified(request_id, actor)
        changes = inventory_apply(alias_request) if done_in_vicidial else {}
        transition(
            alias_request,
            Status.SUCCEEDED if done_in_vicidial else Status.FAILED,
            event_type=EventType.REQUEST_VERIFIED,
            actor=actor,
            context=context,
            reason=note.strip(),
            outcome_reason=f"Verified by {actor.get_username()}: {note.strip()}",
            changes=changes,
        )
    return alias_request


def alias_requests_reconcile_inflight(
    *, older_than: timedelta, context: AuditContext | None = None
) -> list[AliasRequest]:
    """Move requests stuck "calling VICIdial" since before the cutoff to needs verification,
    or to failed when provably nothing was sent."""
    cutoff = timezone.now() - older_than
    stuck_ids = list(
        AliasRequest.objects.filter(status=Status.CALLING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    settled = []
    for request_id in stuck_ids:
        with transaction.atomic():
            alias_request = lock_request(request_id)
            if alias_request.status != Status.CALLING or alias_request.updated_at >= cutoff:
                continue
            in_flight = list(
                alias_request.calls.select_for_update(no_key=True).filter(
                    result=VicidialCall.Result.IN_FLIGHT
                )
            )
            if any(call.started_at >= cutoff for call in in_flight):
                continue  # a later attempt is still live
            # Every row lock before the first record(): the chain head is always taken last.
            for call in in_flight:
                call.result = VicidialCall.Result.UNKNOWN
                call.transport_error = RECONCILED_ERROR
                call.finished_at = timezone.now()
                call.save()
            for call in in_flight:
                record(
                    event_type=EventType.CALL_RECONCILED,
                    context=context,
                    request=alias_request,
                    extensions=alias_request.logins_touched(),
                    call=call,
                    outcome=call.result,
                    reason=RECONCILED_ERROR,
                )
            status, reason = _status_when_stopped(alias_request, sent=bool(in_flight))
            transition(
                alias_request,
                status,
                event_type=(
                    EventType.REQUEST_NEEDS_VERIFICATION
                    if status == Status.NEEDS_VERIFICATION
                    else EventType.REQUEST_FAILED
                ),
                context=context,
                reason=reason,
                outcome_reason=reason,
            )
            settled.append(alias_request)
    return settled


def _status_when_stopped(alias_request: AliasRequest, *, sent: bool) -> tuple[str, str]:
    """Where a request left "calling" goes: a call in flight may have worked; a process that
    died waiting for a slot sent nothing, which only settles a first approval."""
    if sent:
        return Status.NEEDS_VERIFICATION, STOPPED_MID_CALL
    # The request's updated_at is when it started calling: a call answered since then was
    # kept alone, its outcome's transaction having failed (services/calls.py _keep_answer).
    answered = alias_request.calls.filter(started_at__gte=alias_request.updated_at).exclude(
        result=VicidialCall.Result.NOT_SENT
    )
    if answered.exists():
        return Status.NEEDS_VERIFICATION, ANSWERED_NOT_SETTLED
    if alias_request.calls.exists():
        return Status.NEEDS_VERIFICATION, STOPPED_BEFORE_RETRYING
    return Status.FAILED, STOPPED_BEFORE_CALLING
