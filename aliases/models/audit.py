"""The append-only, hash-chained audit trail. Rows are written only by aliases.audit.

On PostgreSQL, triggers (declared here with django-pgtrigger) refuse UPDATE, DELETE and
TRUNCATE on every audit table, and let the chain head move only one event forward at a time.
SQLite relies on the models' own refusals; verify_audit catches what gets past either.
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from ..errors import AuditTrailIsAppendOnly
from .calls import VicidialCall
from .requests import AliasRequest


def _refuse_truncate() -> pgtrigger.Trigger:
    # TRUNCATE fires no row triggers, and any GRANT ALL includes it; PostgreSQL only allows
    # statement-level TRUNCATE triggers, which pgtrigger.Protect does not offer.
    return pgtrigger.Trigger(
        name="refuse_truncate",
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        operation=pgtrigger.Truncate,
        func=(
            "RAISE EXCEPTION 'audit trail is append-only: TRUNCATE on % refused', "
            "TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';"
        ),
    )


def _append_only_triggers() -> list[pgtrigger.Trigger]:
    return [
        pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        _refuse_truncate(),
    ]


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
        REQUEST_SUCCEEDED = "request.succeeded", "Done in VICIdial"
        REQUEST_FAILED = "request.failed", "Failed in VICIdial"
        REQUEST_NEEDS_VERIFICATION = "request.needs_verification", "Outcome unknown"
        # Written before the outcomes had their own types; kept so old events keep a label.
        REQUEST_COMPLETED = "request.completed", "Request outcome recorded"
        REQUEST_RETRIED = "request.retried", "Request retried"
        REQUEST_VERIFIED = "request.verified", "Request verified by an admin"
        CALL_RECONCILED = "vicidial.call_reconciled", "Call left in flight marked unknown"
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
        REQUEST_VERIFIED_FROM_DATABASE = (
            "request.verified_from_database",
            "Outcome verified from VICIdial's database",
        )
        ALIASES_ADOPTED = "aliases.adopted", "Aliases adopted from VICIdial"
        DRIFT_CHECKED = "aliases.drift_checked", "Inventory compared with VICIdial"
        REQUEST_CALL_STARTED = "request.call_started", "VICIdial call started by the task worker"
        BATCH_UPLOADED = "batch.uploaded", "Requests uploaded from a CSV file"
        BATCH_APPROVED = "batch.approved", "Requests approved in bulk"
        BATCH_PAUSED = "batch.paused", "Bulk approval paused"
        BATCH_RESUMED = "batch.resumed", "Bulk approval resumed"

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
    # HMAC-SHA256 over key_id and hash with a secret kept outside the database; both empty
    # on events written before the chain was keyed (aliases.audit.keys).
    key_id = models.CharField(max_length=32, blank=True)
    mac = models.CharField(max_length=64, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        triggers = _append_only_triggers()
        ordering = ["-sequence"]
        permissions = [("export_auditevent", "Can export the audit trail")]
        indexes = [
            models.Index(fields=["event_type", "-occurred_at"]),
            models.Index(fields=["outcome", "-occurred_at"]),
            models.Index(Lower("actor_username"), name="auditevent_actor_ci"),
            # A date range's own entries with their sequences, read index-only for the
            # audit page's day filters (selectors_trail._by_date_first).
            models.Index(fields=["occurred_at", "sequence"], name="auditevent_time_seq"),
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
    # Not shortened with the catalogue: events already written keep what they named.
    login = models.CharField(max_length=100)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        # Inserts stay allowed (record() writes them); verify_audit catches rows added by hand.
        triggers = _append_only_triggers()
        indexes = [models.Index(Lower("login"), "event", name="auditeventext_login_ci")]
        constraints = [
            models.UniqueConstraint("event", Lower("login"), name="auditeventext_unique_ci")
        ]

    def __str__(self) -> str:
        return self.login


class AuditChainHead(models.Model):
    """The single row every audit writer locks, last: it serializes the chain."""

    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="auditchainhead_single_row")]
        triggers = [
            pgtrigger.Protect(name="head_kept", operation=pgtrigger.Delete),
            _refuse_truncate(),
            # Resetting the head after cutting events off the end would hide the cut.
            pgtrigger.Trigger(
                name="head_moves_forward",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func=(
                    "IF NEW.sequence <> OLD.sequence + 1 OR NOT EXISTS (SELECT 1 FROM "
                    "aliases_auditevent WHERE sequence = NEW.sequence AND hash = NEW.hash) "
                    "THEN RAISE EXCEPTION 'audit chain head moves one written event forward "
                    "at a time: #% to #% refused', OLD.sequence, NEW.sequence "
                    "USING ERRCODE = 'insufficient_privilege'; END IF; RETURN NEW;"
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"audit chain head #{self.sequence}"


class AuditDigest(models.Model):
    """A digest audit_checkpoint signed, kept so the next one can name it as its previous.

    The signed file itself lives outside the database; this row only links the series, and
    verify_audit names a digest recorded here that is missing from the folder.
    """

    sequence = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    sha256 = models.CharField(max_length=64, unique=True)
    # Unique: two digests naming the same previous one would fork the series.
    previous_sha256 = models.CharField(max_length=64, unique=True)
    signature = models.CharField(max_length=100)
    signing_key = models.CharField(max_length=80)
    file_name = models.CharField(max_length=100)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        triggers = _append_only_triggers()
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"audit digest #{self.sequence} at {self.created_at:%Y-%m-%d %H:%M:%S}Z"
