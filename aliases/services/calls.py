"""Calling VICIdial for a request, and recording every call before and after it is made."""

import logging
import random
import time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..models import AliasRequest, VicidialCall
from ..vicidial import CallReply, VicidialClient
from .circuit import vicidial_circuit_open
from .transitions import transition

logger = logging.getLogger(__name__)

Status = AliasRequest.Status
Result = VicidialCall.Result

# Only a call that provably never left the building is retried: anything else may have
# created the alias already, and a blind resend could not tell.
MAX_ATTEMPTS_WHEN_NOT_SENT = 3

STATUS_AFTER_CALL = {
    Result.SUCCEEDED: Status.SUCCEEDED,
    Result.REJECTED: Status.FAILED,
    Result.AUTH_FAILED: Status.FAILED,
    Result.NOT_SENT: Status.FAILED,
    Result.UNKNOWN: Status.NEEDS_VERIFICATION,
}

EVENT_FOR_STATUS = {
    Status.SUCCEEDED: EventType.REQUEST_SUCCEEDED,
    Status.FAILED: EventType.REQUEST_FAILED,
    Status.NEEDS_VERIFICATION: EventType.REQUEST_NEEDS_VERIFICATION,
}

ALREADY_EXISTS = "PHONE ALIAS ALREADY EXISTS"
PROBABLE_EARLIER_SUCCESS = (
    "VICIdial says the alias already exists: the earlier call whose outcome was unknown "
    "probably created it. Check it in VICIdial, then mark the request done."
)


def _backoff_seconds(attempt: int) -> float:
    base = settings.VICIDIAL_RETRY_BACKOFF
    return base * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def describe_result(reply: CallReply) -> str:
    """One line for the request page: what VICIdial said, or why nothing usable came back."""
    if reply.transport_error:
        return reply.transport_error
    return reply.parsed.result_line or reply.parsed.reason


def _record_call_start(
    *, alias_request: AliasRequest, actor: AbstractBaseUser, attempt: int
) -> VicidialCall:
    # Written before the request leaves: if the process dies mid-call, this row stays
    # "in flight" for reconcile_inflight to find.
    return VicidialCall.objects.create(
        request=alias_request,
        initiated_by=actor,
        function="add_phone_alias",
        attempt=attempt,
    )


def _record_call_end(
    call: VicidialCall,
    reply: CallReply,
    *,
    actor: AbstractBaseUser,
    context: AuditContext | None,
) -> None:
    call.method = reply.method
    call.url = reply.url
    call.sent_params = [list(pair) for pair in reply.sent_params]
    call.source = reply.source
    call.result = reply.result.value
    call.http_status = reply.http_status
    call.response_body = reply.body
    call.keyword = reply.parsed.keyword.value
    call.reason = reply.parsed.reason
    call.response_data = list(reply.parsed.data)
    call.transport_error = reply.transport_error
    call.duration_ms = reply.duration_ms
    call.finished_at = timezone.now()
    with transaction.atomic():
        call.save()
        record(
            event_type=EventType.VICIDIAL_CALL,
            actor=actor,
            context=context,
            request=call.request,
            extensions=call.request.logins_in_order(),
            call=call,
            outcome=call.result,
            reason=describe_result(reply),
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
        if reply.result == Result.AUTH_FAILED:
            vicidial_circuit_open(call=call, actor=actor, context=context)
    # %r keeps VICIdial's text on one log line, whatever CR/LF it carries.
    logger.info(
        "request %s: add_phone_alias attempt %s -> %s (HTTP %s, %s ms) %r",
        call.request_id,
        call.attempt,
        call.result,
        call.http_status,
        call.duration_ms,
        describe_result(reply),
    )


def _status_after(reply: CallReply, *, is_retry: bool) -> tuple[str, str]:
    reason = describe_result(reply)
    if is_retry and reply.result == Result.REJECTED and ALREADY_EXISTS in reason:
        return Status.NEEDS_VERIFICATION, f"{PROBABLE_EARLIER_SUCCESS} ({reason})"
    return STATUS_AFTER_CALL[reply.result], reason


def create_alias_in_vicidial(
    *,
    alias_request: AliasRequest,
    actor: AbstractBaseUser,
    client: VicidialClient | None = None,
    context: AuditContext | None = None,
    is_retry: bool = False,
) -> AliasRequest:
    """Run outside any transaction: a slow VICIdial must not hold database locks."""
    client = client or VicidialClient()
    first_attempt = alias_request.calls.count() + 1
    for attempt in range(first_attempt, first_attempt + MAX_ATTEMPTS_WHEN_NOT_SENT):
        call = _record_call_start(alias_request=alias_request, actor=actor, attempt=attempt)
        reply = client.add_phone_alias(
            alias_id=alias_request.alias_id,
            alias_name=alias_request.alias_name,
            phone_logins=alias_request.logins_in_order(),
            reference=str(alias_request.pk),
        )
        _record_call_end(call, reply, actor=actor, context=context)
        if reply.result != Result.NOT_SENT:
            break
        if attempt < first_attempt + MAX_ATTEMPTS_WHEN_NOT_SENT - 1:
            time.sleep(_backoff_seconds(attempt - first_attempt + 1))

    new_status, reason = _status_after(reply, is_retry=is_retry)
    with transaction.atomic():
        alias_request = AliasRequest.objects.select_for_update().get(pk=alias_request.pk)
        if alias_request.status != Status.CALLING:
            # reconcile_inflight gave up on this call meanwhile; the admin decides now.
            logger.warning(
                "request %s: late VICIdial answer ignored, request is %s",
                alias_request.pk,
                alias_request.status,
            )
            return alias_request
        transition(
            alias_request,
            new_status,
            event_type=EVENT_FOR_STATUS[new_status],
            actor=actor,
            context=context,
            reason=reason,
            outcome_reason=reason,
        )
    return alias_request
