"""Handing VICIdial calls to the task worker, and the worker's side of each call.

An approval or a retry commits its decision (the request is then `queued`) and enqueues
`call_vicidial` (below). The worker makes the call only if the request is still
queued when it holds the request's row lock, so a task delivered twice, or run by two
workers, still makes one call: the request's state decides, not the queue. A queued
request waits, and stays queued, while its bulk approval is paused, while its server's
calls are stopped, and while its server is at its rate or in-flight limit.
"""

import dataclasses
import logging
import time
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tasks import TaskResult, task
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from ..audit import AuditContext, EventType, batched
from ..errors import VicidialMisconfigured
from ..models import AliasRequest, VicidialCall, VicidialCircuit
from ..request_id import correlation_id_bound
from ..roles import remember_annotated_roles, role_annotations
from ..vicidial import VicidialClient
from ..vicidial.servers import DEFAULT_SERVER
from .calls import carry_out_in_vicidial, vicidial_client_ready
from .circuit import vicidial_calls_stopped_reason, vicidial_circuit_close
from .pace import pace_reserve
from .slots import call_slot_acquire, call_slot_release
from .task_queue import live_task_arguments
from .transitions import lock_request, transition

logger = logging.getLogger(__name__)

Status = AliasRequest.Status

# How long a worker waits for one of the server's in-flight slots before it hands the call
# back to the queue and takes other work.
SLOT_WAIT_SECONDS = 1.0
# When a call handed back to the queue runs again.
RETRY_LATER_SECONDS = 1.0

BATCH_PAUSED = "its bulk approval (batch #{batch}) is paused; resuming it sends the call"
MISCONFIGURED_FIRST = (
    "Not sent, nothing reached VICIdial: the portal's VICIdial settings could not make the "
    "call ({error}). Fix the settings, then make a new request."
)
MISCONFIGURED_RETRY = (
    "The retry was not sent: the portal's VICIdial settings could not make the call "
    "({error}). The earlier call's outcome is still unknown: check VICIdial, then, once the "
    "settings are fixed, retry or record what it holds."
)


def call_queue_shares_transaction() -> bool:
    """Whether call tasks are rows of the database the portal writes its decisions to (the
    database queue on the default database). A task enqueued inside the decision's
    transaction then commits with it or not at all, and no worker can take it before the
    commit. Any other backend (one that runs the task at once, a broker such as RQ) must be
    given the task after the commit, or the worker could look for a decision not yet there."""
    backend = call_vicidial.get_backend()
    return (
        isinstance(backend, DatabaseBackend)
        and router.db_for_write(DBTaskResult) == DEFAULT_DB_ALIAS
    )


def call_enqueue(
    request_id: int, context: AuditContext | None = None, *, delay: float = 0.0
) -> TaskResult | None:
    """Hand the request's call to the worker, now or after `delay` seconds where the task
    backend can defer (elsewhere the call waits for the next sweep, requeue_stranded)."""
    task = call_vicidial
    kwargs = {"context": dataclasses.asdict(context) if context else None}
    if delay:
        if not task.get_backend().supports_defer:
            return None
        task = task.using(run_after=timezone.now() + timedelta(seconds=delay))
    return task.enqueue(request_id, **kwargs)


def queued_wait_reason(alias_request: AliasRequest) -> str:
    """Why a queued request's call may not be sent now ("" if it may)."""
    return _batch_paused(alias_request) or vicidial_calls_stopped_reason(alias_request.server)


def _batch_paused(alias_request: AliasRequest) -> str:
    batch = alias_request.approval_batch
    if batch is not None and batch.is_paused:
        return BATCH_PAUSED.format(batch=batch.pk)
    return ""


@dataclasses.dataclass
class CallStart:
    """What the transaction before a call decided: the call may go (`alias_request`), or
    the worker sleeps for the server's pace (`pace_wait`) or waits for a slot outside any
    transaction (`slot_wait`) and starts again, or the task ends now (`said`)."""

    said: str = ""
    later: bool = False  # enqueue the task again, to run after RETRY_LATER_SECONDS
    alias_request: AliasRequest | None = None
    client: VicidialClient | None = None
    slot: str = ""
    calls_before: int = 0
    pace_wait: float = 0.0
    slot_wait: float = 0.0


NO_SLOT = "later: every in-flight slot for the server is taken"


def alias_request_call(request_id: int, context: AuditContext | None = None) -> str:
    """The worker's side: make the queued request's one call to VICIdial and record it.
    Returns what happened, for the task's result and the worker's log.

    One transaction before the call (pace, slot, queued to calling and its event) and one
    after it (the answer, the outcome, their events, the slot freed); the call itself runs
    with no transaction open. Waiting (for the pace or a slot) happens between
    transactions, never inside one."""
    start = _start_call(request_id, context)
    if start.pace_wait:
        time.sleep(start.pace_wait)
        start = _start_call(request_id, context, paced=True)
    if start.slot_wait:
        slot = call_slot_acquire(wait=start.slot_wait, server=start.alias_request.server)
        if slot is None:
            start = CallStart(said=NO_SLOT, later=True)
        else:
            start = _start_with_slot(request_id, context, slot, server=start.alias_request.server)
    if start.said:
        if start.later:
            call_enqueue(request_id, context, delay=RETRY_LATER_SECONDS)
        return start.said
    alias_request = carry_out_in_vicidial(
        alias_request=start.alias_request,
        actor=start.alias_request.queued_by,
        slot=start.slot,
        client=start.client,
        context=context,
        is_retry=start.calls_before > 0,
        calls_before=start.calls_before,
    )
    return f"called VICIdial: {alias_request.status}"


@task()
def call_vicidial(request_id: int, context: dict | None = None) -> str:
    """The task (aliases/tasks.py lists them all): make a queued request's call, at most
    once whoever runs it. `context`: the approving admin's AuditContext, as plain JSON."""
    audit_context = AuditContext(**context) if context else AuditContext.system("task worker")
    with correlation_id_bound(audit_context.correlation_id):
        return alias_request_call(request_id, audit_context)


def _start_with_slot(
    request_id: int, context: AuditContext | None, slot: str, *, server: str
) -> CallStart:
    """Start again with the slot waited for outside: freed unless the call goes."""
    try:
        start = _start_call(request_id, context, paced=True, slot=slot)
    except BaseException:
        call_slot_release(slot, server=server)
        raise
    return start


def _start_call(
    request_id: int, context: AuditContext | None, *, paced: bool = False, slot: str = ""
) -> CallStart:
    """Queued to calling, under the row lock: of two deliveries, exactly one gets here. In
    the same transaction: the server's pace and an in-flight slot, taken without waiting.
    `paced`: the pace was reserved already; `slot`: one the caller holds (freed here if the
    call does not go)."""
    with transaction.atomic(durable=True), batched():
        alias_request = lock_request(
            request_id,
            related=("approval_batch", "queued_by"),
            with_logins=True,
            # Read with the lock, not one query each: the calls made before (the attempt
            # number, a retry or not) and the roles the queuing admin's events record. The
            # count is as of the query's start even if the lock made it wait: calls are
            # written only while the request is calling, with no lock held, so a wait that
            # ends on a queued request did not span one (it would have got the lock first).
            annotations={"calls_before": _calls_counted(), **role_annotations("queued_by")},
        )
        remember_annotated_roles(alias_request, "queued_by")
        start = _may_start(alias_request, context, paced=paced, slot=slot)
        if start.said or start.pace_wait or start.slot_wait:
            # Freed by an UPDATE, not a rollback: the transaction commits whatever else the
            # step wrote (an unsent request's outcome, the pace reserved).
            if start.slot or slot:
                call_slot_release(start.slot or slot, server=alias_request.server)
            start.slot = ""
            return start
        # On behalf of the admin who queued it, with their action's context: the events of
        # one approval share its correlation id, whichever process writes them.
        transition(
            alias_request,
            Status.CALLING,
            event_type=EventType.REQUEST_CALL_STARTED,
            actor=alias_request.queued_by,
            context=context,
        )
    return start


def _may_start(
    alias_request: AliasRequest, context: AuditContext | None, *, paced: bool, slot: str
) -> CallStart:
    """The checks before a call, in lock order (the request row is locked): a slot taken
    here is freed by the caller unless the call goes."""
    if alias_request.status != Status.QUEUED:
        return CallStart(said="nothing to do: the request is no longer queued")
    server = alias_request.server
    try:
        client = vicidial_client_ready(None, server=server, reference=str(alias_request.pk))
    except VicidialMisconfigured as error:
        return CallStart(said=_end_unsent(alias_request, str(error.__cause__ or error), context))
    paused = _batch_paused(alias_request)
    if paused:
        return CallStart(said=f"waiting: {paused}")
    if not paced:
        wait = pace_reserve(server)
        if wait is None:
            return CallStart(said="later: the server's rate limit is reached", later=True)
        if wait:
            # Reserved: the transaction commits it, the worker sleeps, then starts again.
            return CallStart(alias_request=alias_request, pace_wait=wait)
    if not slot:
        # Inside a transaction this tries once: a wait holds no lock (alias_request_call).
        slot = call_slot_acquire(wait=0.0, server=server) or ""
        if not slot:
            # Shorter than a slot's lease, so a live holder's slot is never taken for a dead one's.
            wait = min(SLOT_WAIT_SECONDS, client.config.total_deadline)
            return CallStart(alias_request=alias_request, slot_wait=wait)
    # Read with the slot held: the call that opened the circuit freed its slot in the same
    # transaction, so a burst with a bad password costs one bad login.
    stopped = vicidial_calls_stopped_reason(server)
    if stopped:
        return CallStart(said=f"waiting: {stopped}", slot=slot)
    return CallStart(
        alias_request=alias_request,
        client=client,
        slot=slot,
        calls_before=alias_request.calls_before,
    )


def _calls_counted() -> Coalesce:
    """The request's VICIdial calls so far, as a scalar subquery of its own row's query."""
    counted = (
        VicidialCall.objects.filter(request=OuterRef("pk"))
        .order_by()
        .values("request")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(counted), 0)


def _end_unsent(alias_request: AliasRequest, error: str, context: AuditContext | None) -> str:
    """The worker cannot build the call (the settings changed since the approval); the
    caller holds the request's lock."""
    if alias_request.calls_before:
        status, event = Status.NEEDS_VERIFICATION, EventType.REQUEST_NEEDS_VERIFICATION
        reason = MISCONFIGURED_RETRY.format(error=error)
    else:
        status, event = Status.FAILED, EventType.REQUEST_FAILED
        reason = MISCONFIGURED_FIRST.format(error=error)
    transition(
        alias_request,
        status,
        event_type=event,
        actor=alias_request.queued_by,
        context=context,
        reason=reason,
        outcome_reason=reason,
    )
    return f"not sent: {error}"


def queued_callable() -> QuerySet[AliasRequest]:
    """The queued requests whose call may be sent now, in one query: what
    queued_wait_reason() allows, request by request (no paused batch, the server's calls
    not stopped). A server since removed from the settings is included: the worker then
    fails the request and says why, instead of leaving it queued for ever."""
    stopped = VicidialCircuit.objects.filter(is_open=True).values_list("server", flat=True)
    return (
        AliasRequest.objects.filter(status=Status.QUEUED)
        .exclude(server__in=stopped)
        .filter(Q(approval_batch__isnull=True) | Q(approval_batch__paused_at__isnull=True))
    )


def calls_enqueue_waiting(*, server: str | None = None, batch_id: int | None = None) -> int:
    """Hand the worker every queued request that may be called now (after calls to a server
    resume, or a batch resumes); a request that already has a task runs once anyway."""
    queued = queued_callable()
    if server is not None:
        queued = queued.filter(server=server)
    if batch_id is not None:
        queued = queued.filter(approval_batch_id=batch_id)
    request_ids = list(queued.order_by("pk").values_list("pk", flat=True))
    # Queued again now: the home page's "waiting too long" counts from here.
    AliasRequest.objects.filter(pk__in=request_ids, status=Status.QUEUED).update(
        updated_at=timezone.now()
    )
    for request_id in request_ids:
        call_enqueue(request_id)
    return len(request_ids)


def alias_requests_requeue_stranded(*, older_than: timedelta) -> list[int]:
    """Enqueue again the queued requests that have waited longer than `older_than` with no
    task of their own waiting (a process died between the decision and the enqueue, or a
    broker lost the task). Harmless when a task does exist: the request's state decides.
    Their waiting time keeps counting, so the home page still warns of a queue no worker
    takes."""
    cutoff = timezone.now() - older_than
    stranded = queued_callable().filter(updated_at__lt=cutoff).order_by("pk")
    # A call task still waiting, or running since the cutoff, will settle it.
    live = live_task_arguments(call_vicidial, running_since=cutoff)
    waiting = {arguments["args"][0] for arguments in live if arguments.get("args")}
    requeued = [pk for pk in stranded.values_list("pk", flat=True) if pk not in waiting]
    for request_id in requeued:
        call_enqueue(request_id)
    return requeued


def vicidial_circuit_reset(
    *, actor: AbstractBaseUser, server: str = DEFAULT_SERVER, context: AuditContext | None = None
) -> VicidialCircuit:
    """An admin resumes calls to a server: its circuit closes, and the approvals that waited
    while calls were stopped go to the worker."""
    circuit = vicidial_circuit_close(actor=actor, server=server, context=context)
    calls_enqueue_waiting(server=server)
    return circuit
