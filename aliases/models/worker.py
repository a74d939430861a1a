"""What the task workers leave behind: who is alive, and how fast each server may be called."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..vicidial.servers import SERVER_NAME_MAX_LENGTH


class WorkerHeartbeat(models.Model):
    """A running task worker (manage.py portal_worker), seen every few seconds. A worker
    stopped cleanly removes its row; a killed one leaves it, and its age tells."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class VicidialCallPace(models.Model):
    """When the next call to one VICIdial server may start (VICIDIAL_CALLS_PER_SECOND), for
    every worker on every machine: each call reserves the next start time in turn."""

    server = models.CharField(max_length=SERVER_NAME_MAX_LENGTH, unique=True)
    next_call_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "VICIdial call pace"

    def __str__(self) -> str:
        return f"{self.server}: next call at {self.next_call_at:%H:%M:%S.%f}"


class PendingDigest(models.Model):
    """When an admin was last emailed about requests waiting for a decision: at most one
    such email every NOTIFY_PENDING_EVERY."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pending_digest"
    )
    last_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: last sent {self.last_sent_at}"
