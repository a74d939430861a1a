"""VICIdial calls as the portal made them, the circuit breaker that stops them, and the slots
that bound how many are in flight at once."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from ..vicidial.protocol import CallResult
from ..vicidial.servers import DEFAULT_SERVER, SERVER_NAME_MAX_LENGTH
from .requests import AliasRequest


class VicidialCall(models.Model):
    """One HTTP call to non_agent_api.php, written before it is sent and completed after."""

    # One set of results for the protocol and the table: the client classifies, this records.
    Result = CallResult

    request = models.ForeignKey(
        AliasRequest, on_delete=models.PROTECT, related_name="calls", null=True, blank=True
    )
    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    server = models.CharField(max_length=SERVER_NAME_MAX_LENGTH, default=DEFAULT_SERVER)
    function = models.CharField(max_length=40)
    method = models.CharField(max_length=8)
    url = models.CharField("URL", max_length=500)
    sent_params = models.JSONField(default=list)
    source = models.CharField(max_length=20, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    result = models.CharField(max_length=20, choices=Result, default=Result.IN_FLIGHT)
    http_status = models.PositiveSmallIntegerField("HTTP status", null=True, blank=True)
    # Capped at VICIDIAL_MAX_BODY_BYTES: a longer answer keeps its start, its result line and
    # its end, and says how much was cut.
    response_body = models.TextField(blank=True)
    response_bytes = models.PositiveBigIntegerField("response size in bytes", null=True, blank=True)
    response_truncated = models.BooleanField(default=False)
    # The first word of VICIdial's result line: SUCCESS, ERROR, NOTICE or UNRECOGNISED.
    keyword = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    response_data = models.JSONField(default=list, blank=True)
    transport_error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "VICIdial call"
        indexes = [
            models.Index(fields=["result", "started_at"]),
            # The admin's exact search by the source VICIdial logged (any case).
            models.Index(Lower("source"), name="vicidialcall_source_ci"),
            # The admin's search: the newest calls of the requests it found, read from the
            # index alone (the request_id index alone makes it read every call's row).
            models.Index(fields=["request", "id"], name="vicidialcall_request_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.function} #{self.pk} ({self.get_result_display()})"


class VicidialCircuit(models.Model):
    """Stops all calls to one VICIdial server after it refused the portal's credentials.

    VICIdial locks an API user for 15 minutes after 10 bad logins, and a locked user fails
    every function, so the portal stops by itself and waits for an admin; it never probes.
    """

    server = models.CharField(
        max_length=SERVER_NAME_MAX_LENGTH, default=DEFAULT_SERVER, unique=True
    )
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
        ordering = ["server"]
        verbose_name = "VICIdial circuit breaker"

    def __str__(self) -> str:
        return f"{self.server}: {'open' if self.is_open else 'closed'}"


class VicidialCallSlot(models.Model):
    """One of VICIDIAL_MAX_IN_FLIGHT permits to have a call in flight to one VICIdial server.

    A row, not a lock: the call runs with no transaction open, so the permit is a holder
    token with an expiry, and the slot of a process that died frees itself.
    """

    server = models.CharField(max_length=SERVER_NAME_MAX_LENGTH, default=DEFAULT_SERVER)
    number = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=32, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["server", "number"]
        verbose_name = "VICIdial call slot"
        constraints = [
            models.UniqueConstraint(fields=["server", "number"], name="vicidialcallslot_unique")
        ]

    def __str__(self) -> str:
        return f"{self.server} #{self.number} ({'held' if self.holder else 'free'})"
