"""What someone with raw database access could do to the audit trail, and how to look at it."""

import io
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import connection

from aliases import audit
from aliases.models import AuditEvent

GUARDED_TABLES = [
    "aliases_auditevent",
    "aliases_auditeventextension",
    "aliases_auditchainhead",
    "aliases_auditdigest",
]


def tamper(sql: str, params=()) -> None:
    """Run `sql` with the audit triggers switched off, as the tables' owner can."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The test's own transaction still holds deferred foreign-key checks.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in GUARDED_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            for table in GUARDED_TABLES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def cut_tail(keep: int) -> None:
    """Remove every event after #keep with its index rows, and reset the head to match."""
    kept = AuditEvent.objects.get(sequence=keep) if keep else None
    tamper(
        "DELETE FROM aliases_auditeventextension WHERE event_id IN "
        "(SELECT id FROM aliases_auditevent WHERE sequence > %s)",
        [keep],
    )
    tamper("DELETE FROM aliases_auditevent WHERE sequence > %s", [keep])
    tamper(
        "UPDATE aliases_auditchainhead SET sequence = %s, hash = %s",
        [keep, kept.hash if kept else ""],
    )


def rewrite(sequence: int, *, reason: str, ring: audit.KeyRing | None = None) -> None:
    """Edit event #sequence and re-hash every later one, fixing the links and the head; with
    `ring`, also recompute each MAC (someone who also stole the MAC key)."""
    events = list(AuditEvent.objects.filter(sequence__gte=sequence).order_by("sequence"))
    prev_hash = events[0].prev_hash
    for event in events:
        content = audit.canonical_content(event)
        if event.sequence == sequence:
            content["reason"] = reason
        new_hash = audit.chain_hash(content, prev_hash)
        mac = ring.mac(event.key_id, new_hash) if ring else event.mac
        tamper(
            "UPDATE aliases_auditevent SET reason = %s, prev_hash = %s, hash = %s, mac = %s "
            "WHERE sequence = %s",
            [content["reason"], prev_hash, new_hash, mac, event.sequence],
        )
        prev_hash = new_hash
    tamper("UPDATE aliases_auditchainhead SET hash = %s", [prev_hash])


class _Collect(io.StringIO):
    pass


def verify(*args: str) -> str:
    output = _Collect()
    call_command("verify_audit", *args, stdout=output)
    return output.getvalue()


def checkpoint(folder: Path) -> str:
    output = _Collect()
    call_command("audit_checkpoint", "--output-dir", str(folder), stdout=output)
    return output.getvalue()


def make_signing_key(folder: Path, name: str = "signing") -> tuple[Path, Path]:
    """A fresh Ed25519 key pair as PEM files: (private, public)."""
    key = Ed25519PrivateKey.generate()
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public
