"""Settling requests whose VICIdial outcome is unknown, and calls a dead process left behind."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import FourEyesViolation, InvalidTransition
from ..models import AliasRequest, VicidialCall
from ..vicidial import VicidialClient
from .calls import create_alias_in_vicidial
from .circuit import ensure_vicidial_calls_allowed
from .permissions import require_perm
from .transitions import transition

Status = AliasRequest.Status
RECONCILED_ERROR = "no outcome recorded: the portal process stopped while the call was in flight"
STOPPED_MID_CALL = "The portal stopped before VICIdial's answer was recorded; check VICIdial."


def _lock_unverified(request_id: int, actor: AbstractBaseUser) -> AliasRequest:
    alias_request = AliasRequest.objects.select_for_update().get(pk=request_id)
    if alias_request.status != Status.NEEDS_VERIFICATION:
        raise InvalidTransition(
            f"Request #{alias_request.pk} is {alias_request.get_status_display().lower()}, "
            "not waiting for verification. Nothing was changed."
        )
    if alias_request.requester_id == actor.pk:
        raise FourEyesViolation("You cannot settle your own request; ask another admin.")
    return alias_request


def alias_request_retry(
    *,
    request_id: int,
    actor: AbstractBaseUser,
    note: str = "",
    client: VicidialClient | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Call add_phone_alias again, on an admin's explicit word only."""
    require_perm(actor, "aliases.decide_aliasrequest", "retry alias requests")
    with transaction.atomic():
        alias_request = _lock_unverified(request_id, actor)
        ensure_vicidial_calls_allowed()
        transition(
            alias_request,
            Status.CALLING,
            event_type=EventType.REQUEST_RETRIED,
            actor=actor,
            context=context,
            reason=note.strip(),
        )
    return create_alias_in_vicidial(
        alias_request=alias_request, actor=actor, client=client, context=context, is_retry=True
    )


def alias_request_settle(
    *,
    request_id: int,
    actor: AbstractBaseUser,
    exists_in_vicidial: bool,
    note: str,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Record what an admin found in VICIdial: the alias is there, or it is not."""
    require_perm(actor, "aliases.decide_aliasrequest", "settle alias requests")
    if not note.strip():
        raise ValidationError("Say what you checked in VICIdial.", code="required")
    with transaction.atomic():
        alias_request = _lock_unverified(request_id, actor)
        transition(
            alias_request,
            Status.SUCCEEDED if exists_in_vicidial else Status.FAILED,
            event_type=EventType.REQUEST_VERIFIED,
            actor=actor,
            context=context,
            reason=note.strip(),
            outcome_reason=f"Verified by {actor.get_username()}: {note.strip()}",
        )
    return alias_request


def alias_requests_reconcile_inflight(
    *, older_than: timedelta, context: AuditContext | None = None
) -> list[AliasRequest]:
    """Move requests stuck "calling VICIdial" since before the cutoff to needs verification."""
    cutoff = timezone.now() - older_than
    stuck_ids = list(
        AliasRequest.objects.filter(status=Status.CALLING, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    settled = []
    for request_id in stuck_ids:
        with transaction.atomic():
            alias_request = AliasRequest.objects.select_for_update().get(pk=request_id)
            if alias_request.status != Status.CALLING or alias_request.updated_at >= cutoff:
                continue
            for call in alias_request.calls.filter(
                result=VicidialCall.Result.IN_FLIGHT, started_at__lt=cutoff
            ):
                call.result = VicidialCall.Result.UNKNOWN
                call.transport_error = RECONCILED_ERROR
                call.finished_at = timezone.now()
                call.save()
                record(
                    event_type=EventType.CALL_RECONCILED,
                    context=context,
                    request=alias_request,
                    extensions=alias_request.logins_in_order(),
                    call=call,
                    outcome=call.result,
                    reason=RECONCILED_ERROR,
                )
            transition(
                alias_request,
                Status.NEEDS_VERIFICATION,
                event_type=EventType.REQUEST_NEEDS_VERIFICATION,
                context=context,
                reason=STOPPED_MID_CALL,
                outcome_reason=STOPPED_MID_CALL,
            )
            settled.append(alias_request)
    return settled
