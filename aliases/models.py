from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from .errors import InvalidTransition


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved, calling VICIdial"
    SUCCEEDED = "succeeded", "Created in VICIdial"
    FAILED = "failed", "Failed"
    NEEDS_VERIFICATION = "needs_verification", "Needs verification"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


# While a request is in one of these, nobody else may ask for the same alias ID.
HOLDS_ALIAS_ID = (
    RequestStatus.PENDING,
    RequestStatus.APPROVED,
    RequestStatus.SUCCEEDED,
    RequestStatus.NEEDS_VERIFICATION,
)


class AliasRequest(models.Model):
    Status = RequestStatus
    HOLDS_ALIAS_ID = HOLDS_ALIAS_ID

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.APPROVED, Status.REJECTED, Status.CANCELLED}),
        Status.APPROVED: frozenset({Status.SUCCEEDED, Status.FAILED, Status.NEEDS_VERIFICATION}),
        # An unknown outcome is settled by an admin: retried, or marked after checking VICIdial.
        Status.NEEDS_VERIFICATION: frozenset({Status.APPROVED, Status.SUCCEEDED, Status.FAILED}),
    }
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.REJECTED, Status.CANCELLED)

    alias_id = models.CharField("alias ID", max_length=20)
    alias_name = models.CharField(max_length=50)
    justification = models.TextField(max_length=2000)
    status = models.CharField(max_length=20, choices=RequestStatus, default=RequestStatus.PENDING)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="alias_requests"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="alias_decisions",
        null=True,
        blank=True,
    )
    decision_note = models.TextField(max_length=2000, blank=True)
    outcome_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("decide_aliasrequest", "Can approve or reject alias requests"),
            ("view_all_aliasrequests", "Can see every alias request"),
            ("cancel_own_aliasrequest", "Can cancel own pending alias requests"),
        ]
        constraints = [
            models.UniqueConstraint(
                Lower("alias_id"),
                condition=Q(status__in=HOLDS_ALIAS_ID),
                name="aliasrequest_one_live_request_per_alias_id",
            ),
            # Four-eyes, held by the database too: nobody decides their own request.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requester")),
                name="aliasrequest_decider_is_not_requester",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values),
                name="aliasrequest_status_known",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.alias_id}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, frozenset())

    def move_to(self, status: str) -> None:
        """Change status in memory, refusing moves the state machine does not allow."""
        if not self.can_move_to(status):
            raise InvalidTransition(
                f"Request #{self.pk} is {self.get_status_display().lower()}; "
                f"it cannot become {self.Status(status).label.lower()}."
            )
        self.status = status

    @property
    def phone_logins(self) -> list[str]:
        return [row.login for row in self.logins.all()]


class RequestedLogin(models.Model):
    """One phone login (extension) of an alias request: one row each, so lookups are exact."""

    request = models.ForeignKey(AliasRequest, on_delete=models.CASCADE, related_name="logins")
    login = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["request", "position"]
        constraints = [
            models.UniqueConstraint(
                "request", Lower("login"), name="requestedlogin_unique_per_request"
            ),
            models.UniqueConstraint(
                fields=["request", "position"], name="requestedlogin_unique_position"
            ),
        ]
        indexes = [models.Index(Lower("login"), name="requestedlogin_login_ci")]

    def __str__(self) -> str:
        return self.login


class VicidialCall(models.Model):
    """One HTTP call to non_agent_api.php, written before it is sent and completed after."""

    class Result(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        SUCCEEDED = "succeeded", "Succeeded"
        REJECTED = "rejected", "Rejected by VICIdial"
        AUTH_FAILED = "auth_failed", "Credentials rejected"
        NOT_SENT = "not_sent", "Not sent"
        UNKNOWN = "unknown", "Outcome unknown"

    request = models.ForeignKey(
        AliasRequest, on_delete=models.PROTECT, related_name="calls", null=True, blank=True
    )
    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    function = models.CharField(max_length=40)
    method = models.CharField(max_length=8)
    url = models.CharField("URL", max_length=500)
    sent_params = models.JSONField(default=list)
    source = models.CharField(max_length=20, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    result = models.CharField(max_length=20, choices=Result, default=Result.IN_FLIGHT)
    http_status = models.PositiveSmallIntegerField("HTTP status", null=True, blank=True)
    response_body = models.TextField(blank=True)
    outcome = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    response_data = models.JSONField(default=list, blank=True)
    transport_error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "VICIdial call"
        indexes = [models.Index(fields=["result", "started_at"])]

    def __str__(self) -> str:
        return f"{self.function} #{self.pk} ({self.get_result_display()})"
