"""Calling VICIdial for a request of any kind, and recording every call before and after it
is made. What each kind sends, and what a refusal means for it: operations.py.

The call itself runs with no transaction open and no row lock held: it takes one of the
server's slots in a short transaction of its own (services/slots.py), sends, and records
the answer and frees the slot in one transaction. Lock order: services/circuit.py.
"""

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, batched, record
from ..errors import VicidialMisconfigured
from ..models import AliasRequest, VicidialCall
from ..vicidial import CallReply, VicidialClient
from ..vicidial.servers import longest_deadline
from .circuit import vicidial_calls_stopped_reason, vicidial_circuit_lock, vicidial_circuit_open
from .inventory import inventory_apply
from .operations import (
    already_gone,
    operation_call,
    probable_earlier_success,
    refusal_explained,
    vicidial_operation,
)
from .slots import call_slot_release
from .transitions import lock_request, reuse_logins, transition

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

PROBABLE_EARLIER_SUCCESS = (
    "VICIdial's answer to the retry is what it would say had the earlier call (whose "
    "outcome was unknown) worked: it probably did. Check VICIdial, then mark the request done."
)
RETRY_UNSETTLED = (
    "The retry did not settle it ({result}: {evidence}). The earlier call may still have "
    "done it: check VICIdial, then retry or record what it holds."
)
ALREADY_GONE = (
    "VICIdial did not hold alias {alias_id!r} ({reason}): it was already gone from VICIdial "
    "(removed there by hand), which is what disabling asks for. It is listed as disabled now."
)
STOPPED_BEFORE_SENDING = "Not sent, nothing reached VICIdial: {stopped}"


def longest_live_call() -> timedelta:
    """How long a request can legitimately stay "calling VICIdial": a wait for a free slot
    and the call, each bounded by VICIDIAL_TOTAL_DEADLINE, and as long again to record it."""
    return timedelta(seconds=3 * longest_deadline())


def vicidial_client_ready(
    client: VicidialClient | None, *, server: str, reference: str
) -> VicidialClient:
    """The client for a request's call, built and checked before the decision commits: a
    configuration that cannot call VICIdial refuses the approval instead of stranding it."""
    try:
        client = client or VicidialClient(server=server)
        client.config.source_for(reference)
    except (ImproperlyConfigured, ValueError) as error:
        raise VicidialMisconfigured(
            f"The portal's VICIdial settings cannot make this call: {error} "
            "Nothing was changed; fix the configuration, then try again."
        ) from error
    return client


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
        server=alias_request.server,
        function=vicidial_operation(alias_request).function,
        attempt=attempt,
    )


def _fill_call_end(call: VicidialCall, reply: CallReply) -> None:
    call.method = reply.method
    call.url = reply.url
    call.sent_params = [list(pair) for pair in reply.sent_params]
    call.source = reply.source
    call.result = reply.result.value
    call.http_status = reply.http_status
    call.response_body = reply.body
    call.response_bytes = reply.body_bytes
    call.response_truncated = reply.body_truncated
    call.keyword = reply.parsed.keyword.value
    call.reason = reply.parsed.reason
    call.response_data = list(reply.parsed.data)
    call.transport_error = reply.transport_error
    call.duration_ms = reply.duration_ms
    call.finished_at = timezone.now()


# What _fill_call_end sets: VICIdial's answer as the call's row keeps it.
ANSWER_FIELDS = (
    "method",
    "url",
    "sent_params",
    "source",
    "result",
    "http_status",
    "response_body",
    "response_bytes",
    "response_truncated",
    "keyword",
    "reason",
    "response_data",
    "transport_error",
    "duration_ms",
    "finished_at",
)


def _record_call_end(
    call: VicidialCall,
    reply: CallReply,
    *,
    actor: AbstractBaseUser,
    context: AuditContext | None,
    release_slot: str | None = None,
) -> None:
    """Record an answer in a transaction of its own (a resend follows it)."""
    _fill_call_end(call, reply)
    with transaction.atomic(), batched():
        _write_call_end(call, reply, actor=actor, context=context, release_slot=release_slot)
    _log_call_end(call, reply)


def _write_call_end(
    call: VicidialCall,
    reply: CallReply,
    *,
    actor: AbstractBaseUser,
    context: AuditContext | None,
    release_slot: str | None,
) -> None:
    # The circuit row before the call and slot rows, the chain head (record) last.
    failed_login = reply.result == Result.AUTH_FAILED
    circuit = vicidial_circuit_lock(call.server) if failed_login else None
    call.save()
    if release_slot:
        # Freed in the transaction that opens the circuit: the next holder of the slot
        # sees the circuit open and sends nothing.
        call_slot_release(release_slot, server=call.server)
    record(
        event_type=EventType.VICIDIAL_CALL,
        actor=actor,
        context=context,
        request=call.request,
        extensions=call.request.logins_touched(),
        call=call,
        outcome=call.result,
        reason=describe_result(reply),
        # VICIdial's raw answer goes into the hashed event, so it is tamper-evident too.
        changes={
            "server": call.server,
            "function": call.function,
            "attempt": call.attempt,
            "sent_params": call.sent_params,
            "http_status": call.http_status,
            "duration_ms": call.duration_ms,
            "response_body": call.response_body,
            "response_bytes": call.response_bytes,
            "response_truncated": call.response_truncated,
        },
    )
    if circuit is not None:
        vicidial_circuit_open(circuit, call=call, actor=actor, context=context)


def _log_call_end(call: VicidialCall, reply: CallReply) -> None:
    # %r keeps VICIdial's text on one log line, whatever CR/LF it carries.
    logger.info(
        "request %s: %s on %s attempt %s -> %s (HTTP %s, %s ms, %s bytes%s) %r",
        call.request_id,
        call.function,
        call.server,
        call.attempt,
        call.result,
        call.http_status,
        call.duration_ms,
        call.response_bytes,
        ", cut" if call.response_truncated else "",
        describe_result(reply),
    )


def _status_after(
    reply: CallReply, alias_request: AliasRequest, *, is_retry: bool
) -> tuple[str, str]:
    reason = describe_result(reply)
    if reply.result == Result.REJECTED and not is_retry:
        if already_gone(alias_request, reason, reply.parsed.data):
            return Status.SUCCEEDED, ALREADY_GONE.format(
                alias_id=alias_request.alias_id, reason=reason
            )
        return Status.FAILED, refusal_explained(alias_request, reason)
    if not is_retry or reply.result == Result.SUCCEEDED:
        return STATUS_AFTER_CALL[reply.result], reason
    # A retry follows an unknown outcome: whatever stops the retry, the earlier call may have
    # done the work, so only success settles it and the request keeps its alias.
    if reply.result == Result.REJECTED and probable_earlier_success(alias_request, reason):
        return Status.NEEDS_VERIFICATION, f"{PROBABLE_EARLIER_SUCCESS} ({reason})"
    result = reply.result.label.lower()
    return Status.NEEDS_VERIFICATION, RETRY_UNSETTLED.format(result=result, evidence=reason)


def _call_until_sent(
    *,
    alias_request: AliasRequest,
    actor: AbstractBaseUser,
    client: VicidialClient,
    context: AuditContext | None,
    first_attempt: int,
) -> tuple[CallReply | None, VicidialCall | None, str]:
    """Make the request's call, again only while nothing was sent, within one deadline: the
    last reply and, unless already recorded, its call row (the caller records its answer
    with the outcome, in one transaction), or why nothing could be sent. The slot stays
    held."""
    config = client.config
    operation = vicidial_operation(alias_request)
    ends_at = time.monotonic() + config.total_deadline
    last_attempt = first_attempt + MAX_ATTEMPTS_WHEN_NOT_SENT - 1
    reply = call = None
    for attempt in range(first_attempt, last_attempt + 1):
        if call is not None:  # the previous attempt sent nothing: recorded, then resent
            _record_call_end(call, reply, actor=actor, context=context)
            call = None
            pause = _backoff_seconds(attempt - first_attempt)
            time.sleep(max(0.0, min(pause, ends_at - time.monotonic())))
        # Checked again with the slot held: the call that opened the circuit freed its slot
        # in the same transaction, so a burst with a bad password costs one bad login.
        stopped = vicidial_calls_stopped_reason(alias_request.server)
        if stopped:
            return reply, call, stopped
        if not AliasRequest.objects.filter(pk=alias_request.pk, status=Status.CALLING).exists():
            # reconcile_inflight settled it while this process stalled: an admin decides now.
            return reply, call, "the request was settled while this call waited"
        time_left = ends_at - time.monotonic()
        if reply is not None and time_left <= config.connect_timeout:
            break  # not even a connection would fit in what is left of the deadline
        call = _record_call_start(alias_request=alias_request, actor=actor, attempt=attempt)
        reply = operation_call(
            client,
            operation,
            reference=str(alias_request.pk),
            # The first attempt gets the whole deadline; resends what is left of it.
            deadline=None if attempt == first_attempt else time_left,
        )
        if reply.result != Result.NOT_SENT:
            break
    return reply, call, ""


def carry_out_in_vicidial(
    *,
    alias_request: AliasRequest,
    actor: AbstractBaseUser,
    slot: str,
    client: VicidialClient | None = None,
    context: AuditContext | None = None,
    is_retry: bool = False,
    calls_before: int | None = None,
) -> AliasRequest:
    """Run outside any transaction: a slow VICIdial must not hold database locks. `slot`:
    the in-flight slot the worker took before the request left the queue (services/queue.py);
    freed in the transaction that records the outcome (or at once if this raises).
    `calls_before`: the request's earlier calls, if the caller counted them."""
    server = alias_request.server
    client = client or VicidialClient(server=server)
    if calls_before is None:
        calls_before = alias_request.calls.count()
    try:
        reply, call, stopped = _call_until_sent(
            alias_request=alias_request,
            actor=actor,
            client=client,
            context=context,
            first_attempt=calls_before + 1,
        )
        if reply is None or stopped:
            reason = STOPPED_BEFORE_SENDING.format(stopped=stopped)
            return _end_without_sending(
                alias_request, reason, actor, context, is_retry=is_retry, slot=slot
            )
        new_status, reason = _status_after(reply, alias_request, is_retry=is_retry)
        return _settle_call(
            alias_request,
            new_status,
            reason,
            actor,
            context,
            slot=slot,
            answer=(call, reply) if call is not None else None,
        )
    except BaseException:
        call_slot_release(slot, server=server)
        raise


def _end_without_sending(
    alias_request: AliasRequest,
    reason: str,
    actor: AbstractBaseUser,
    context: AuditContext | None,
    *,
    is_retry: bool,
    slot: str,
) -> AliasRequest:
    if is_retry:
        result = Result.NOT_SENT.label.lower()
        status, reason = (
            Status.NEEDS_VERIFICATION,
            RETRY_UNSETTLED.format(result=result, evidence=reason),
        )
    else:
        status = Status.FAILED
    return _settle_call(alias_request, status, reason, actor, context, slot=slot)


def _settle_call(
    alias_request: AliasRequest,
    new_status: str,
    reason: str,
    actor: AbstractBaseUser,
    context: AuditContext | None,
    *,
    slot: str,
    answer: tuple[VicidialCall, CallReply] | None = None,
) -> AliasRequest:
    """One transaction after the call: VICIdial's answer (`answer`), the request's outcome,
    their events under one lock of the chain head, and the slot freed. If that transaction
    fails, the answer is recorded on its own before the error goes on."""
    if answer is not None:
        _fill_call_end(*answer)
    try:
        alias_request, settles = _write_outcome(
            alias_request, new_status, reason, actor, context, slot, answer
        )
    except BaseException:
        if answer is not None:
            _keep_answer(answer[0])
        raise
    if answer is not None:
        _log_call_end(*answer)
    if not settles:
        # reconcile_inflight gave up on this call meanwhile; the admin decides now.
        logger.warning(
            "request %s: late VICIdial answer ignored, request is %s",
            alias_request.pk,
            alias_request.status,
        )
    return alias_request


def _write_outcome(
    alias_request: AliasRequest,
    new_status: str,
    reason: str,
    actor: AbstractBaseUser,
    context: AuditContext | None,
    slot: str,
    answer: tuple[VicidialCall, CallReply] | None,
) -> tuple[AliasRequest, bool]:
    """_settle_call's transaction: the request as locked, and False if it was no longer
    calling VICIdial."""
    with transaction.atomic(), batched():
        # Lock order: the request row, the alias row (inventory), the circuit row, then the
        # call and slot rows; the chain head at the end of the block.
        read = alias_request
        alias_request = lock_request(read.pk)
        reuse_logins(alias_request, read)
        settles = alias_request.status == Status.CALLING
        succeeded = settles and new_status == Status.SUCCEEDED
        changes = inventory_apply(alias_request) if succeeded else {}
        if answer is not None:
            call, reply = answer
            call.request = alias_request
            _write_call_end(call, reply, actor=actor, context=context, release_slot=slot)
        else:
            call_slot_release(slot, server=alias_request.server)
        if settles:
            transition(
                alias_request,
                new_status,
                event_type=EVENT_FOR_STATUS[new_status],
                actor=actor,
                context=context,
                reason=reason,
                outcome_reason=reason,
                changes=changes,
            )
    return alias_request, settles


def _keep_answer(call: VicidialCall) -> None:
    """The outcome's transaction failed (a deadlock, a lock timeout, the database): VICIdial's
    answer is the one thing nothing can ask again, so the call's row keeps it, in one UPDATE
    that needs no lock of the chain head. The request stays "calling VICIdial" for
    reconcile_inflight to hand to an admin; the caller frees the slot."""
    try:
        call.save(update_fields=ANSWER_FIELDS)
    except Exception:
        logger.exception("request %s: VICIdial's answer could not be kept", call.request_id)
