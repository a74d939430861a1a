from collections.abc import Sequence
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import DuplicateAliasId, DuplicateSubmission, FourEyesViolation, InvalidTransition
from ..models import AliasRequest, Extension, RequestedLogin
from ..predicates import cancels_request, is_decider, is_requester, may_cancel_own, may_submit
from ..validators import parse_phone_logins, validate_alias_id, validate_alias_name
from ..vicidial import VicidialClient
from .calls import create_alias_in_vicidial, vicidial_client_ready
from .circuit import ensure_vicidial_calls_allowed
from .permissions import require
from .transitions import lock_request, transition

Status = AliasRequest.Status


def _ensure_alias_id_free(alias_id: str) -> None:
    holder = (
        AliasRequest.objects.filter(
            alias_id__lower=alias_id.lower(), status__in=AliasRequest.HOLDS_ALIAS_ID
        )
        .order_by("created_at")
        .first()
    )
    if holder is not None:
        raise DuplicateAliasId(
            f"Alias ID {alias_id!r} is already taken by request #{holder.pk} "
            f"({holder.alias_id}, {holder.get_status_display().lower()}). "
            "VICIdial treats alias IDs without regard to letter case."
        )


def alias_request_submit(
    *,
    requester: AbstractBaseUser,
    alias_id: str,
    alias_name: str,
    phone_logins: Sequence[str] | str,
    justification: str,
    submission_token: UUID | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    require(requester, may_submit, "request phone aliases")
    if not isinstance(phone_logins, str):
        phone_logins = ",".join(phone_logins)
    phone_logins = parse_phone_logins(phone_logins)
    validate_alias_id(alias_id)
    validate_alias_name(alias_name)
    if not justification.strip():
        raise ValidationError("Say why the alias is needed.", code="required")

    _ensure_token_unspent(submission_token, requester)
    _ensure_alias_id_free(alias_id)
    try:
        with transaction.atomic():
            alias_request = AliasRequest.objects.create(
                alias_id=alias_id,
                alias_name=alias_name,
                justification=justification.strip(),
                requester=requester,
                submission_token=submission_token,
            )
            catalogue = _catalogue_entries(phone_logins)
            RequestedLogin.objects.bulk_create(
                RequestedLogin(
                    request=alias_request,
                    login=login,
                    position=position,
                    extension=catalogue.get(login.lower()),
                )
                for position, login in enumerate(phone_logins)
            )
            record(
                event_type=EventType.REQUEST_CREATED,
                actor=requester,
                context=context,
                request=alias_request,
                extensions=phone_logins,
                outcome=Status.PENDING,
                changes={
                    "status": [None, Status.PENDING],
                    "alias_id": [None, alias_id],
                    "alias_name": [None, alias_name],
                    "phone_logins": [None, list(phone_logins)],
                    # Hashed here: the request row can be edited, the event cannot.
                    "justification": [None, alias_request.justification],
                },
            )
    except IntegrityError:
        # Two submissions raced past the checks above; the unique indexes decided.
        _ensure_token_unspent(submission_token, requester)
        _ensure_alias_id_free(alias_id)
        raise
    return alias_request


def _ensure_token_unspent(token: UUID | None, requester: AbstractBaseUser) -> None:
    if token is None:
        return
    earlier = AliasRequest.objects.filter(submission_token=token).first()
    if earlier is None:
        return
    if earlier.requester_id != requester.pk:
        raise PermissionDenied("This form was issued to someone else.")
    raise DuplicateSubmission(
        f"This form was already submitted as request #{earlier.pk}; nothing new was created.",
        request_id=earlier.pk,
    )


def _catalogue_entries(logins: Sequence[str]) -> dict[str, Extension]:
    lowered = [login.lower() for login in logins]
    return {
        entry.login.lower(): entry for entry in Extension.objects.filter(login__lower__in=lowered)
    }


def _decide(
    alias_request: AliasRequest,
    to: str,
    *,
    event_type: str,
    actor: AbstractBaseUser,
    note: str,
    context: AuditContext | None,
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
        changes={"decided_by": [None, actor.get_username()]},
    )


def _lock_pending(request_id: int) -> AliasRequest:
    alias_request = lock_request(request_id)
    if alias_request.status == Status.CALLING:
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


def alias_request_approve(
    *,
    request_id: int,
    actor: AbstractBaseUser,
    note: str = "",
    client: VicidialClient | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Approve a pending request and create the alias in VICIdial.

    The move out of `pending` happens under a row lock, so of two admins (or two clicks)
    exactly one gets to call VICIdial; the call itself runs outside any transaction.
    """
    require(actor, is_decider, "approve alias requests")
    # Built and checked before the approval commits: a bad configuration refuses it.
    client = vicidial_client_ready(client, reference=str(request_id))
    with transaction.atomic():
        alias_request = _lock_pending(request_id)
        if is_requester(actor, alias_request):
            raise FourEyesViolation(
                "You cannot approve your own request; another admin has to decide it."
            )
        ensure_vicidial_calls_allowed()
        _decide(
            alias_request,
            Status.CALLING,
            event_type=EventType.REQUEST_APPROVED,
            actor=actor,
            note=note,
            context=context,
        )
    return create_alias_in_vicidial(
        alias_request=alias_request, actor=actor, client=client, context=context
    )


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
