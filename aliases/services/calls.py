"""Calling VICIdial for a request, and recording every call before and after it is made."""

import random
import time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..models import AliasRequest, VicidialCall
from ..vicidial import CallClass, CallResult, VicidialClient

Status = AliasRequest.Status

# Only a call that provably never left the building is retried: anything else may have
# created the alias already, and a blind resend could not tell.
MAX_ATTEMPTS_WHEN_NOT_SENT = 3

OUTCOME_STATUS = {
    CallClass.SUCCEEDED: Status.SUCCEEDED,
    CallClass.REJECTED: Status.FAILED,
    CallClass.AUTH_FAILED: Status.FAILED,
    CallClass.NOT_SENT: Status.FAILED,
    CallClass.UNKNOWN: Status.NEEDS_VERIFICATION,
}


def _backoff_seconds(attempt: int) -> float:
    base = settings.VICIDIAL_RETRY_BACKOFF
    return base * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def _call_started(*, alias_request: AliasRequest, actor: AbstractBaseUser, attempt: int):
    return VicidialCall.objects.create(
        request=alias_request,
        initiated_by=actor,
        function="add_phone_alias",
        attempt=attempt,
    )


def _call_finished(
    call: VicidialCall,
    result: CallResult,
    *,
    actor: AbstractBaseUser,
    context: AuditContext | None,
) -> None:
    call.method = result.method
    call.url = result.url
    call.sent_params = [list(pair) for pair in result.sent_params]
    call.source = result.source
    call.result = result.call_class.value
    call.http_status = result.http_status
    call.response_body = result.body
    call.outcome = result.parsed.outcome.value
    call.reason = result.parsed.reason
    call.response_data = list(result.parsed.data)
    call.transport_error = result.transport_error
    call.duration_ms = result.duration_ms
    call.finished_at = timezone.now()
    with transaction.atomic():
        call.save()
        record(
            event_type=EventType.VICIDIAL_CALL,
            actor=actor,
            context=context,
            request=call.request,
            call=call,
            outcome=call.result,
            reason=describe_result(result),
            # VICIdial's raw answer goes into the hashed event, so it is tamper-evident too.
            changes={
                "function": call.function,
                "attempt": call.attempt,
                "sent_params": call.sent_params,
                "http_status": call.http_status,
                "duration_ms": call.duration_ms,
                "response_body": call.response_body,
            },
        )


def describe_result(result: CallResult) -> str:
    """One line for the request page: what VICIdial said, or why nothing usable came back."""
    if result.transport_error:
        return result.transport_error
    parsed = result.parsed
    if parsed.result_line:
        return parsed.result_line
    return parsed.reason


def create_alias_in_vicidial(
    *,
    alias_request: AliasRequest,
    actor: AbstractBaseUser,
    client: VicidialClient | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    client = client or VicidialClient()
    for attempt in range(1, MAX_ATTEMPTS_WHEN_NOT_SENT + 1):
        call = _call_started(alias_request=alias_request, actor=actor, attempt=attempt)
        result = client.add_phone_alias(
            alias_id=alias_request.alias_id,
            alias_name=alias_request.alias_name,
            phone_logins=alias_request.phone_logins,
            reference=str(alias_request.pk),
        )
        _call_finished(call, result, actor=actor, context=context)
        if result.call_class != CallClass.NOT_SENT or attempt == MAX_ATTEMPTS_WHEN_NOT_SENT:
            break
        time.sleep(_backoff_seconds(attempt))

    with transaction.atomic():
        alias_request = AliasRequest.objects.select_for_update().get(pk=alias_request.pk)
        previous_status = alias_request.status
        alias_request.move_to(OUTCOME_STATUS[result.call_class])
        alias_request.outcome_reason = describe_result(result)
        if alias_request.is_final:
            alias_request.completed_at = timezone.now()
        alias_request.save()
        record(
            event_type=EventType.REQUEST_COMPLETED,
            actor=actor,
            context=context,
            request=alias_request,
            outcome=alias_request.status,
            reason=alias_request.outcome_reason,
            changes={"status": [previous_status, alias_request.status]},
        )
    return alias_request
