from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from .errors import AuditTrailIsAppendOnly, InvalidTransition


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

    @property
    def phone_logins(self) -> list[str]:
        return [row.login for row in self.logins.all()]


class RequestedLogin(models.Model):
    """One phone login (extension) of an alias request: one row each, so lookups are exact."""

    request = models.ForeignKey(AliasRequest, on_delete=models.CASCADE, related_name="logins")
    login = models.CharField(max_length=100)
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


class Extension(models.Model):
    """A phone of the VICIdial catalogue (`phones`), by its login."""

    class Protocol(models.TextChoices):
        SIP = "SIP"
        IAX2 = "IAX2"
        ZAP = "Zap"
        EXTERNAL = "EXTERNAL"

    login = models.CharField(max_length=20)
    extension = models.CharField(max_length=100, blank=True)
    protocol = models.CharField(max_length=10, choices=Protocol, default=Protocol.SIP)
    description = models.CharField(max_length=255, blank=True)
    server_ip = models.CharField("server IP", max_length=45, blank=True)
    known_to_vicidial = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["login"]
        constraints = [models.UniqueConstraint(Lower("login"), name="extension_login_unique_ci")]

    def __str__(self) -> str:
        return f"{self.login} ({self.protocol})"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly("The audit trail cannot be changed.")

    def delete(self):
        raise AuditTrailIsAppendOnly("The audit trail cannot be deleted from.")


class AuditEvent(models.Model):
    """One entry of the append-only, hash-chained audit trail. Written only by aliases.audit."""

    class Type(models.TextChoices):
        REQUEST_CREATED = "request.created", "Request created"
        REQUEST_APPROVED = "request.approved", "Request approved"
        REQUEST_REJECTED = "request.rejected", "Request rejected"
        REQUEST_CANCELLED = "request.cancelled", "Request cancelled"
        REQUEST_COMPLETED = "request.completed", "Request outcome recorded"
        REQUEST_RETRIED = "request.retried", "Request retried"
        REQUEST_VERIFIED = "request.verified", "Request verified by an admin"
        CALL_RECONCILED = "vicidial.call_reconciled", "Stale call reconciled"
        CIRCUIT_OPENED = "vicidial.circuit_opened", "VICIdial calls stopped"
        CIRCUIT_RESET = "vicidial.circuit_reset", "VICIdial calls resumed"
        VICIDIAL_CALL = "vicidial.call", "VICIdial call made"
        PERMISSION_DENIED = "access.denied", "Permission denied"
        LOGIN_SUCCEEDED = "auth.login", "Logged in"
        LOGIN_FAILED = "auth.login_failed", "Login failed"
        LOGOUT = "auth.logout", "Logged out"
        AUDIT_VIEWED = "audit.viewed", "Audit viewed"
        AUDIT_EXPORTED = "audit.exported", "Audit exported"
        EXTENSIONS_IMPORTED = "extensions.imported", "Extensions imported"
        EXTENSIONS_SYNCED = "extensions.synced", "Extensions synced from VICIdial"

    sequence = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    event_type = models.CharField(max_length=40, choices=Type)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=100, blank=True)
    source_ip = models.CharField("source IP", max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    correlation_id = models.CharField(max_length=32, db_index=True)
    request = models.ForeignKey(
        AliasRequest,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    call = models.ForeignKey(
        VicidialCall,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    extensions = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        permissions = [("export_auditevent", "Can export the audit trail")]
        indexes = [
            models.Index(fields=["event_type", "-occurred_at"]),
            models.Index(fields=["outcome", "-occurred_at"]),
            models.Index(Lower("actor_username"), name="auditevent_actor_ci"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event_type}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("Audit events cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("Audit events cannot be deleted.")


class AuditEventExtension(models.Model):
    """Which extensions an audit event concerns: the exact, indexed way to an extension's story."""

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="extension_rows")
    login = models.CharField(max_length=100)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(Lower("login"), "event", name="auditeventext_login_ci")]
        constraints = [
            models.UniqueConstraint("event", Lower("login"), name="auditeventext_unique_ci")
        ]

    def __str__(self) -> str:
        return self.login


class AuditChainHead(models.Model):
    """The single row every audit writer locks first: it serializes the chain."""

    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="auditchainhead_single_row")]

    def __str__(self) -> str:
        return f"audit chain head #{self.sequence}"


class VicidialCircuit(models.Model):
    """Stops all VICIdial calls after VICIdial refused the portal's credentials.

    VICIdial locks an API user for 15 minutes after 10 bad logins, and a locked user fails
    every function, so the portal stops by itself and waits for an admin; it never probes.
    """

    is_open = models.BooleanField(default=False)
    opened_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    opened_by_call = models.ForeignKey(
        VicidialCall, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reset_at = models.DateTimeField(null=True, blank=True)
    reset_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = "VICIdial circuit breaker"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="vicidialcircuit_single_row")]

    def __str__(self) -> str:
        return "open" if self.is_open else "closed"
