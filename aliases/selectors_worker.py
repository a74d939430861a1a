"""Is the task worker doing its job? For the warning admins see on the home page: without a
worker, approvals commit and wait, and nothing reaches VICIdial, silently."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks_db import DatabaseBackend

from .models import AliasRequest, WorkerHeartbeat
from .services.queue import queued_callable


@dataclass(frozen=True)
class WorkerHealth:
    last_seen: datetime | None  # the newest heartbeat of any portal_worker
    # The database queue has no portal_worker alive. (Other backends need none: tasks run at
    # once, or RQ's rqworker runs them and sends no heartbeat; there only a stale queue tells.)
    worker_missing: bool
    oldest_queued: AliasRequest | None  # the longest-waiting request a worker may call now
    queued_for: timedelta | None
    queue_stale: bool

    @property
    def ok(self) -> bool:
        return not (self.worker_missing or self.queue_stale)


def _task_backend():
    from .tasks import call_vicidial

    return call_vicidial.get_backend()


def worker_health() -> WorkerHealth:
    now = timezone.now()
    backend = _task_backend()
    beats = WorkerHeartbeat.objects.order_by("-seen_at")
    last_seen = beats.values_list("seen_at", flat=True).first()
    # updated_at: when the request entered the queue (nothing else writes a queued request).
    oldest = queued_callable().order_by("updated_at", "pk").first()
    queued_for = now - oldest.updated_at if oldest else None
    return WorkerHealth(
        last_seen=last_seen,
        worker_missing=isinstance(backend, DatabaseBackend)
        and (last_seen is None or now - last_seen > settings.WORKER_SILENT_AFTER),
        oldest_queued=oldest,
        queued_for=queued_for,
        queue_stale=queued_for is not None and queued_for > settings.QUEUE_STALE_AFTER,
    )
