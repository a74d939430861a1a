"""Approving many requests at once, and pausing or resuming the calls such an approval queued.

A bulk approval decides each request in a transaction of its own, under that request's row
lock, exactly as a single approval does (services/requests.py `approve_locked`), and hands
its call to the worker once that transaction commits. It never reads VICIdial itself: the
pre-flight checks a single approval shows read VICIdial's database, which for hundreds of
requests would hold the admin's page for minutes; the approval's event says none were shown.
"""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import InvalidTransition
from ..models import AliasRequest, RequestBatch
from ..predicates import is_decider, is_requester
from .calls import vicidial_client_ready
from .circuit import ensure_vicidial_calls_allowed
from .permissions import require
from .queue import call_enqueue, calls_enqueue_waiting
from .requests import approve_locked
from .transitions import lock_request, transition

Status = AliasRequest.Status
Kind = RequestBatch.Kind

NOTHING_SELECTED = "Select at least one pending request to approve. Nothing was approved."
NO_CHECKS_SHOWN = "approved in bulk (batch #{batch}): no checks were shown"
SKIPPED_OWN = "You cannot approve your own request; another admin has to decide it (four-eyes)."
SKIPPED_GONE = "No such request."
SKIPPED_DECIDED = "It was no longer pending: {status}."
WITHDRAWN = (
    "Approval withdrawn by {who} while bulk approval #{batch} was paused, before VICIdial "
    "was called: nothing was sent. {note}"
)


def _skip(request_id: int, alias_id: str, reason: str) -> dict:
    return {"request": request_id, "alias_id": alias_id, "reason": reason}


def _refuse_if_calls_cannot_go(request_ids: list[int]) -> None:
    """Before anything is approved: a server whose calls are stopped, or whose settings
    cannot call, refuses the whole selection (every request would only wait or fail)."""
    first_of_server = {}
    rows = AliasRequest.objects.filter(pk__in=request_ids).order_by("pk")
    for request_id, server in rows.values_list("pk", "server"):
        first_of_server.setdefault(server, request_id)
    for server, request_id in sorted(first_of_server.items()):
        ensure_vicidial_calls_allowed(server)
        vicidial_client_ready(None, server=server, reference=str(request_id))


def requests_approve_many(
    *,
    request_ids: Iterable[int],
    actor: AbstractBaseUser,
    note: str = "",
    context: AuditContext | None = None,
    source_batch: RequestBatch | None = None,
) -> RequestBatch:
    """Approve the selected requests, one transaction each, and queue their calls; the
    requests that were the actor's own or no longer pending are listed in the batch's
    `skipped`, with why."""
    require(actor, is_decider, "approve alias requests")
    ordered = list(dict.fromkeys(int(request_id) for request_id in request_ids))
    if not ordered:
        raise ValidationError(NOTHING_SELECTED, code="required")
    _refuse_if_calls_cannot_go(ordered)
    batch = RequestBatch.objects.create(
        kind=Kind.APPROVAL, created_by=actor, note=note.strip(), source_batch=source_batch
    )
    changes = {"batch": batch.pk, "preflight_shown": NO_CHECKS_SHOWN.format(batch=batch.pk)}
    queued, skipped = [], []
    # One transaction per request, as a single approval: a long selection never holds
    # hundreds of row locks, and a request another admin decides meanwhile is only skipped.
    for request_id in ordered:
        with transaction.atomic():
            reason, alias_id = _approve_one(request_id, batch, actor, note, context, changes)
        if reason:
            skipped.append(_skip(request_id, alias_id, reason))
            continue
        queued.append(request_id)
    with transaction.atomic():
        batch.skipped = skipped
        batch.save(update_fields=["skipped"])
        record(
            event_type=EventType.BATCH_APPROVED,
            actor=actor,
            context=context,
            outcome="queued",
            reason=batch.note,
            changes={
                "batch": batch.pk,
                "source_batch": source_batch.pk if source_batch else None,
                "queued": queued,
                "skipped": [entry["request"] for entry in skipped],
            },
        )
    # Only once every request of the batch is queued: a call that ends before the rest are
    # approved would find the batch "over" (services/notify.py tells requesters at the end).
    # A process that dies before this leaves them queued, for housekeeping to hand on.
    for request_id in queued:
        call_enqueue(request_id, context)
    return batch


def _approve_one(
    request_id: int,
    batch: RequestBatch,
    actor: AbstractBaseUser,
    note: str,
    context: AuditContext | None,
    changes: dict,
) -> tuple[str, str]:
    """Approve one request under its row lock; return why it was skipped ("" if queued)
    and its alias ID."""
    try:
        alias_request = lock_request(request_id)
    except AliasRequest.DoesNotExist:
        return SKIPPED_GONE, ""
    if is_requester(actor, alias_request):
        return SKIPPED_OWN, alias_request.alias_id
    if alias_request.status != Status.PENDING:
        status = alias_request.get_status_display().lower()
        return SKIPPED_DECIDED.format(status=status), alias_request.alias_id
    alias_request.approval_batch = batch
    approve_locked(alias_request, actor=actor, note=note, context=context, changes=changes)
    return "", alias_request.alias_id


def batch_approve_upload(
    *,
    batch_id: int,
    actor: AbstractBaseUser,
    note: str = "",
    context: AuditContext | None = None,
) -> RequestBatch:
    """Approve every request of a CSV upload that is still pending, as one bulk approval."""
    require(actor, is_decider, "approve alias requests")
    upload = RequestBatch.objects.get(pk=batch_id)
    if upload.kind != Kind.UPLOAD:
        raise InvalidTransition(
            f"Batch #{upload.pk} is a bulk approval, not a CSV upload: its requests were "
            "already approved. Nothing was changed."
        )
    pending = upload.requests().filter(status=Status.PENDING).order_by("pk")
    request_ids = list(pending.values_list("pk", flat=True))
    if not request_ids:
        raise InvalidTransition(
            f"No request of upload #{upload.pk} is pending any more: each was already "
            "decided or cancelled. Nothing was approved."
        )
    return requests_approve_many(
        request_ids=request_ids, actor=actor, note=note, context=context, source_batch=upload
    )


def _lock_approval_batch(batch_id: int, action: str) -> RequestBatch:
    # NO KEY UPDATE, as lock_request: an approval writing approval_batch holds the chain head
    # and takes KEY SHARE on this row at commit; FOR UPDATE would deadlock with it.
    batch = RequestBatch.objects.select_for_update(no_key=True).get(pk=batch_id)
    if batch.kind != Kind.APPROVAL:
        raise InvalidTransition(
            f"Batch #{batch.pk} is a CSV upload: only a bulk approval's calls can be "
            f"{action}. Nothing was changed."
        )
    return batch


def batch_pause(
    *, batch_id: int, actor: AbstractBaseUser, context: AuditContext | None = None
) -> RequestBatch:
    """Hold back the batch's queued calls; a call already being made finishes."""
    require(actor, is_decider, "pause bulk approvals")
    with transaction.atomic():
        batch = _lock_approval_batch(batch_id, "paused")
        if batch.is_paused:
            raise InvalidTransition(
                f"Batch #{batch.pk} is already paused (by {batch.paused_by.get_username()}). "
                "Nothing was changed; resume it to send its calls."
            )
        if not batch.requests().filter(status=Status.QUEUED).exists():
            raise InvalidTransition(
                f"Batch #{batch.pk} has no call left waiting: every request was called "
                "already. There is nothing to pause."
            )
        batch.paused_at = timezone.now()
        batch.paused_by = actor
        batch.save(update_fields=["paused_at", "paused_by"])
        record(
            event_type=EventType.BATCH_PAUSED,
            actor=actor,
            context=context,
            outcome="paused",
            changes={"batch": batch.pk, "paused": [False, True]},
        )
    return batch


def batch_withdraw(
    *, batch_id: int, actor: AbstractBaseUser, note: str, context: AuditContext | None = None
) -> int:
    """Withdraw the approval of every request a paused batch still holds back: each is
    cancelled, nothing is sent for it, and its alias is free for a new request. Returns how
    many were withdrawn (a call already being made is left to finish)."""
    require(actor, is_decider, "withdraw bulk approvals")
    if not note.strip():
        raise ValidationError(
            "Say why the remaining calls are withdrawn: the requesters read it.", code="required"
        )
    with transaction.atomic():
        batch = _lock_approval_batch(batch_id, "withdrawn")
        if not batch.is_paused:
            raise InvalidTransition(
                f"Pause batch #{batch.pk} first, so that no worker starts a call while its "
                "calls are withdrawn. Nothing was changed."
            )
        queued = list(
            batch.requests()
            .filter(status=Status.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    reason = WITHDRAWN.format(batch=batch.pk, who=actor.get_username(), note=note.strip())
    withdrawn = 0
    for request_id in queued:
        with transaction.atomic():
            alias_request = lock_request(request_id)
            if alias_request.status != Status.QUEUED:
                continue  # resumed and called meanwhile: it keeps its outcome
            transition(
                alias_request,
                Status.CANCELLED,
                event_type=EventType.REQUEST_CANCELLED,
                actor=actor,
                context=context,
                reason=note.strip(),
                outcome_reason=reason,
                changes={"batch": batch.pk},
            )
            withdrawn += 1
    return withdrawn


def batch_resume(
    *, batch_id: int, actor: AbstractBaseUser, context: AuditContext | None = None
) -> RequestBatch:
    """Send the paused batch's queued calls again."""
    require(actor, is_decider, "resume bulk approvals")
    with transaction.atomic():
        batch = _lock_approval_batch(batch_id, "resumed")
        if not batch.is_paused:
            raise InvalidTransition(f"Batch #{batch.pk} is not paused; nothing to resume.")
        batch.paused_at = None
        batch.paused_by = None
        batch.save(update_fields=["paused_at", "paused_by"])
        record(
            event_type=EventType.BATCH_RESUMED,
            actor=actor,
            context=context,
            outcome="resumed",
            changes={"batch": batch.pk, "paused": [True, False]},
        )
    # After the commit, or the worker would still find the batch paused.
    calls_enqueue_waiting(batch_id=batch.pk)
    return batch
