"""Reads for batch pages: how far a batch's calls have got, and what they wait for."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from .models import AliasRequest, RequestBatch
from .services.circuit import vicidial_calls_stopped_reason

Status = AliasRequest.Status

IN_QUEUE = AliasRequest.ON_ITS_WAY
REMAINING = (Status.PENDING, *IN_QUEUE)
# A call made: its outcome is known, or it is known to be unknown.
CALLED = (Status.SUCCEEDED, Status.FAILED, Status.NEEDS_VERIFICATION)


@dataclass(frozen=True)
class BatchProgress:
    total: int
    done: int
    failed: int
    needs_verification: int
    remaining: int
    # Decided otherwise: rejected or cancelled (an upload's requests only).
    closed: int
    skipped: int
    percent: int
    # Seconds left at the pace so far; None before the first call ends, or while waiting.
    eta_seconds: float | None
    # Why the queued calls are not going out ("" if they are); who can change it, where.
    waiting_reason: str
    waiting_on_server: bool
    finished: bool
    # Whether the page should keep refreshing: calls are queued or being made.
    live: bool

    @property
    def processed(self) -> int:
        """Requests the batch is through with: called, or decided otherwise."""
        return self.total - self.remaining

    @property
    def eta_text(self) -> str:
        """ "about 2 h 5 min", "about 40 s"; "" when there is no estimate."""
        if self.eta_seconds is None:
            return ""
        minutes, seconds = divmod(max(1, round(self.eta_seconds)), 60)
        hours, minutes = divmod(minutes, 60)
        if hours:
            return f"about {hours} h {minutes} min"
        if minutes:
            return f"about {minutes} min {seconds} s"
        return f"about {seconds} s"


def batch_requests(batch: RequestBatch) -> QuerySet[AliasRequest]:
    return (
        batch.requests()
        .select_related("requester", "decided_by")
        .prefetch_related("logins__extension")
        .order_by("pk")
    )


def _calls_started_at(batch: RequestBatch) -> datetime | None:
    """When the batch's calls began to be queued: a bulk approval's own start, or an
    upload's first bulk approval (requests approved one by one have no common start)."""
    if batch.kind == RequestBatch.Kind.APPROVAL:
        return batch.created_at
    return batch.approvals.aggregate(first=Min("created_at"))["first"]


def _waiting(batch: RequestBatch, queued: QuerySet[AliasRequest]) -> tuple[str, bool]:
    if batch.is_paused:
        who = batch.paused_by.get_username() if batch.paused_by else "an admin"
        return f"Paused by {who}: no call is sent until an admin resumes the batch.", False
    for server in queued.values_list("server", flat=True).distinct().order_by("server"):
        stopped = vicidial_calls_stopped_reason(server)
        if stopped:
            return stopped, True
    return "", False


def batch_progress(batch: RequestBatch, *, now: datetime | None = None) -> BatchProgress:
    rows = batch.requests().values("status").annotate(count=Count("pk")).order_by()
    counts = {row["status"]: row["count"] for row in rows}
    total = sum(counts.values())
    remaining = sum(counts.get(status, 0) for status in REMAINING)
    in_queue = sum(counts.get(status, 0) for status in IN_QUEUE)
    called = sum(counts.get(status, 0) for status in CALLED)
    waiting_reason, on_server = "", False
    if counts.get(Status.QUEUED):
        waiting_reason, on_server = _waiting(batch, batch.requests().filter(status=Status.QUEUED))
    return BatchProgress(
        total=total,
        done=counts.get(Status.SUCCEEDED, 0),
        failed=counts.get(Status.FAILED, 0),
        needs_verification=counts.get(Status.NEEDS_VERIFICATION, 0),
        remaining=remaining,
        closed=counts.get(Status.REJECTED, 0) + counts.get(Status.CANCELLED, 0),
        skipped=len(batch.skipped),
        # Rounded down: 199 of 200 is not "100%".
        percent=(total - remaining) * 100 // total if total else 100,
        eta_seconds=None
        if waiting_reason
        else _eta(_calls_started_at(batch), called, in_queue, now or timezone.now()),
        waiting_reason=waiting_reason,
        waiting_on_server=on_server,
        finished=remaining == 0,
        live=in_queue > 0,
    )


def _eta(started: datetime | None, called: int, in_queue: int, now: datetime) -> float | None:
    """Time left at the pace so far: calls ended per second since the start, applied to
    the calls still queued."""
    if started is None or called == 0:
        return None
    elapsed = (now - started).total_seconds()
    if elapsed <= 0:
        return None
    return in_queue / (called / elapsed)
