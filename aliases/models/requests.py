"""Alias requests: what a supervisor asked for, its phone logins, and its state machine."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from ..errors import InvalidTransition
from ..validators import LOGIN_MAX_LENGTH


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    CALLING = "calling", "Calling VICIdial"
    SUCCEEDED = "succeeded", "Created in VICIdial"
    FAILED = "failed", "Failed in VICIdial"
    NEEDS_VERIFICATION = "needs_verification", "Outcome unknown: needs verification"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


# While a request is in one of these, nobody else may ask for the same alias ID.
HOLDS_ALIAS_ID = (
    RequestStatus.PENDING,
    RequestStatus.CALLING,
    RequestStatus.SUCCEEDED,
    RequestStatus.NEEDS_VERIFICATION,
)


class AliasRequest(models.Model):
    Status = RequestStatus
    HOLDS_ALIAS_ID = HOLDS_ALIAS_ID

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.CALLING, Status.REJECTED, Status.CANCELLED}),
        Status.CALLING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.NEEDS_VERIFICATION}),
        # An unknown outcome is settled by an admin: retried, or marked after checking VICIdial.
        Status.NEEDS_VERIFICATION: frozenset({Status.CALLING, Status.SUCCEEDED, Status.FAILED}),
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
    # Issued with the form and spent by the first submission: a double post creates one request.
    submission_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
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

    def logins_in_order(self) -> list[str]:
        """The requested phone logins, in the order given; one query unless prefetched."""
        return [row.login for row in self.logins.all()]


class RequestedLogin(models.Model):
    """One phone login (extension) of an alias request: one row each, so lookups are exact."""

    request = models.ForeignKey(AliasRequest, on_delete=models.CASCADE, related_name="logins")
    login = models.CharField(max_length=LOGIN_MAX_LENGTH)
    position = models.PositiveSmallIntegerField()
    extension = models.ForeignKey(
        "Extension",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="requested_logins",
    )

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
