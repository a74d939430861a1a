"""The one writer of the audit trail, and the canonical form every event is hashed in.

Each event stores hash = sha256(canonical content + previous hash), which anyone can recompute,
and mac = HMAC(key, key id + hash), which only a holder of the environment's key can. Writers
lock the single AuditChainHead row, so concurrent transactions queue up instead of forking
the chain. The head is the last lock a transaction takes: anything else a caller needs locked
it locks before recording, or two writers could wait on each other.
"""

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from ..models import AliasRequest, AuditChainHead, AuditEvent, AuditEventExtension, VicidialCall
from ..roles import role_label
from .context import AuditContext
from .keys import key_ring

EventType = AuditEvent.Type
# The hashed fields, in the order the verifier reads them. Renaming one breaks every hash
# already written, which tests/test_audit_vectors.py pins.
CONTENT_KEYS = (
    "sequence",
    "occurred_at",
    "event_type",
    "actor_id",
    "actor_username",
    "actor_role",
    "source_ip",
    "user_agent",
    "correlation_id",
    "request_id",
    "call_id",
    "extensions",
    "outcome",
    "reason",
    "changes",
)
LINK_KEYS = ("prev_hash", "hash", "key_id", "mac")


def hashed_time(moment: datetime) -> str:
    """2026-01-15T09:30:00.123456Z: UTC whatever TIME_ZONE or the host's clock say, so the
    same instant always hashes the same; microseconds always, as the database keeps them."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _storable(value: Any) -> Any:
    """`value` as the database gives it back, since what is hashed must be what is read:
    JSON round-tripped, and NUL (which PostgreSQL cannot store) turned into U+FFFD."""
    return _without_nul(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def canonical_content(event: AuditEvent) -> dict[str, Any]:
    content = {key: getattr(event, key) for key in CONTENT_KEYS}
    content["occurred_at"] = hashed_time(event.occurred_at)
    return content


def canonical_bytes(content: dict[str, Any], prev_hash: str) -> bytes:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return canonical.encode() + prev_hash.encode()


def chain_hash(content: dict[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical_bytes(content, prev_hash)).hexdigest()


def _lock_chain_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # The row is gone (or was never made): rebuild it from the newest event.
        latest = AuditEvent.objects.order_by("-sequence").only("sequence", "hash").first()
        AuditChainHead.objects.get_or_create(
            pk=1,
            defaults={
                "sequence": latest.sequence if latest else 0,
                "hash": latest.hash if latest else "",
            },
        )
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def _index_logins(extensions: list[str]) -> list[str]:
    # The index is case-insensitive (one row per event and LOWER(login)), as VICIdial is.
    first_spelling: dict[str, str] = {}
    for login in extensions:
        first_spelling.setdefault(login.lower(), login)
    return list(first_spelling.values())


def record(
    *,
    event_type: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    context: AuditContext | None = None,
    request: AliasRequest | None = None,
    call: VicidialCall | None = None,
    extensions: Iterable[str] | None = None,
    outcome: str = "",
    reason: str = "",
    changes: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the change it records, after
    taking every other lock that transaction needs."""
    context = context or AuditContext()
    if actor is not None and not actor.is_authenticated:
        actor = None
    extensions = list(dict.fromkeys(extensions or ()))
    ring = key_ring()
    with transaction.atomic():
        head = _lock_chain_head()
        event = AuditEvent(
            sequence=head.sequence + 1,
            occurred_at=timezone.now(),
            event_type=EventType(event_type),
            actor=actor,
            actor_username=_storable(actor.get_username() if actor else actor_username),
            actor_role=role_label(actor) if actor else "",
            source_ip=_storable(context.source_ip),
            user_agent=_storable(context.user_agent),
            correlation_id=context.correlation_id,
            request=request,
            call=call,
            extensions=_storable(extensions),
            outcome=outcome,
            reason=_storable(reason),
            changes=_storable(changes or {}),
            prev_hash=head.hash,
        )
        event.hash = chain_hash(canonical_content(event), head.hash)
        event.key_id = ring.signing_id
        event.mac = ring.mac(ring.signing_id, event.hash)
        event.save()
        AuditEventExtension.objects.bulk_create(
            AuditEventExtension(event=event, login=login)
            for login in _index_logins(event.extensions)
        )
        AuditChainHead.objects.filter(pk=1).update(sequence=event.sequence, hash=event.hash)
    return event


def export_line(event: AuditEvent) -> dict[str, Any]:
    """An event as exported: its hashed content plus the links, so a copy verifies offline."""
    return {
        **canonical_content(event),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "key_id": event.key_id,
        "mac": event.mac,
    }
