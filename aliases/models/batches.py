"""Batches: the requests one CSV upload created, and the requests one bulk approval queued."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class BatchKind(models.TextChoices):
    UPLOAD = "upload", "CSV upload"
    APPROVAL = "approval", "Bulk approval"


class RequestBatch(models.Model):
    """One CSV upload (its rows became requests) or one bulk approval (its requests were
    queued for the worker). A request can be in one of each: `AliasRequest.upload_batch`
    and `AliasRequest.approval_batch`."""

    Kind = BatchKind

    kind = models.CharField(max_length=10, choices=BatchKind)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="request_batches"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # An upload: the file as received, recognised again by its digest.
    filename = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField("file SHA-256", max_length=64, blank=True)
    all_or_nothing = models.BooleanField(default=False)
    row_count = models.PositiveIntegerField(default=0)
    # The rows that did not become requests, as shown after the upload: row, column, problem.
    row_errors = models.JSONField(default=list, blank=True)
    # A bulk approval: the approver's note, the upload it approved (if a whole batch), and the
    # selected requests it did not queue, with why.
    note = models.TextField(max_length=2000, blank=True)
    source_batch = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="approvals"
    )
    skipped = models.JSONField(default=list, blank=True)
    # A paused approval's queued requests wait; resuming hands them to the worker again.
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # When the requesters were told how the approval's calls ended: one email each per batch,
    # instead of one per request.
    requesters_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "request batch"
        verbose_name_plural = "request batches"
        constraints = [
            # The same file uploaded twice creates its requests once.
            models.UniqueConstraint(
                fields=["file_sha256"],
                condition=Q(kind="upload"),
                name="requestbatch_upload_once_per_file",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=BatchKind.values), name="requestbatch_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(kind="approval") | Q(paused_at__isnull=True),
                name="requestbatch_only_approvals_pause",
            ),
        ]

    def __str__(self) -> str:
        return f"Batch #{self.pk} ({self.get_kind_display().lower()})"

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    def requests(self) -> models.QuerySet:
        """The batch's requests: those it created, or those it queued."""
        if self.kind == BatchKind.UPLOAD:
            return self.uploaded_requests.all()
        return self.approved_requests.all()
