"""Alias requests: what a supervisor asked for, its phone logins, and its state machine."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from ..errors import InvalidTransition
from ..validators import LOGIN_MAX_LENGTH, same_logins
from ..vicidial.servers import DEFAULT_SERVER, SERVER_NAME_MAX_LENGTH


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    # Approved; the call waits for a task worker (aliases/tasks.py).
    QUEUED = "queued", "Approved: waiting to call VICIdial"
    CALLING = "calling", "Calling VICIdial"
    SUCCEEDED = "succeeded", "Done in VICIdial"
    FAILED = "failed", "Failed in VICIdial"
    NEEDS_VERIFICATION = "needs_verification", "Outcome unknown: needs verification"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class RequestKind(models.TextChoices):
    ADD = "add", "Add"
    CHANGE = "change", "Change"
    DISABLE = "disable", "Disable"
    ENABLE = "enable", "Enable"


# What a request that succeeded did, by kind: the status label a person reads.
DONE_LABELS = {
    RequestKind.ADD: "Created in VICIdial",
    RequestKind.CHANGE: "Changed in VICIdial",
    RequestKind.DISABLE: "Disabled: removed from VICIdial",
    RequestKind.ENABLE: "Enabled: created in VICIdial again",
}

# While a request is in one of these, no other request may be made for the same alias on
# the same server, of any kind. An alias that exists is held by the inventory instead.
HOLDS_ALIAS_ID = (
    RequestStatus.PENDING,
    RequestStatus.QUEUED,
    RequestStatus.CALLING,
    RequestStatus.NEEDS_VERIFICATION,
)


class AliasRequest(models.Model):
    """A supervisor's request for one operation on one alias of one VICIdial server.

    `alias_name` and the logins are the alias as it will be after the request (for a
    disable: as it was when removed); `previous_name` and `previous_logins` are what the
    inventory held when the request was made, the "before" of the approver's diff.
    """

    Status = RequestStatus
    Kind = RequestKind
    HOLDS_ALIAS_ID = HOLDS_ALIAS_ID

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({Status.QUEUED, Status.REJECTED, Status.CANCELLED}),
        # The worker takes it (calling), or finds it cannot call: a first approval then
        # failed without sending; a retry's earlier outcome is still unknown. An admin may
        # withdraw a paused bulk approval's calls before they are made (cancelled).
        Status.QUEUED: frozenset(
            {Status.CALLING, Status.FAILED, Status.NEEDS_VERIFICATION, Status.CANCELLED}
        ),
        Status.CALLING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.NEEDS_VERIFICATION}),
        # An unknown outcome is settled by an admin: retried, or marked after checking VICIdial.
        Status.NEEDS_VERIFICATION: frozenset({Status.QUEUED, Status.SUCCEEDED, Status.FAILED}),
    }
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.REJECTED, Status.CANCELLED)
    # Approved, and its call not yet made or not yet answered.
    ON_ITS_WAY = (Status.QUEUED, Status.CALLING)

    server = models.CharField(
        "VICIdial server", max_length=SERVER_NAME_MAX_LENGTH, default=DEFAULT_SERVER
    )
    kind = models.CharField(max_length=10, choices=RequestKind, default=RequestKind.ADD)
    # The inventory's row for the alias (`alias_id` is VICIdial's key, kept as typed).
    alias_record = models.ForeignKey(
        "Alias", on_delete=models.PROTECT, null=True, blank=True, related_name="requests"
    )
    alias_id = models.CharField("alias ID", max_length=20)
    alias_name = models.CharField(max_length=50)
    previous_name = models.CharField(max_length=50, blank=True)
    previous_logins = models.JSONField(default=list, blank=True)
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
    # The admin whose approval or retry queued the call the worker makes on their behalf.
    queued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # The CSV upload that created it, and the bulk approval that queued it, if any.
    upload_batch = models.ForeignKey(
        "RequestBatch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="uploaded_requests",
    )
    approval_batch = models.ForeignKey(
        "RequestBatch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approved_requests",
    )
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
                "server",
                Lower("alias_id"),
                condition=Q(status__in=HOLDS_ALIAS_ID),
                name="aliasrequest_one_live_request_per_alias",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=RequestKind.values), name="aliasrequest_kind_known"
            ),
            # Only an add starts without an inventory row.
            models.CheckConstraint(
                condition=Q(kind="add") | Q(alias_record__isnull=False),
                name="aliasrequest_alias_for_non_add",
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
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            # The admin's exact search by alias ID (any case) and its "decided" date filter.
            models.Index(Lower("alias_id"), name="aliasrequest_alias_id_ci"),
            models.Index(fields=["decided_at"], name="aliasrequest_decided_at"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.alias_id}"

    def get_status_display(self) -> str:
        if self.status == RequestStatus.SUCCEEDED:
            return DONE_LABELS[RequestKind(self.kind)]
        return RequestStatus(self.status).label

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

    def logins_touched(self) -> list[str]:
        """Every phone login the request concerns, before and after: a change that removes
        a phone belongs in that phone's history too."""
        logins = self.logins_in_order()
        seen = {login.lower() for login in logins}
        return logins + [login for login in self.previous_logins if login.lower() not in seen]

    @property
    def name_changes(self) -> bool:
        return self.kind == RequestKind.CHANGE and self.alias_name != self.previous_name

    @property
    def logins_change(self) -> bool:
        return self.kind == RequestKind.CHANGE and not same_logins(
            self.previous_logins, self.logins_in_order()
        )


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
