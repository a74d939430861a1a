"""The audit trail: one writer that chains every event to the one before it.

Each event stores sha256(canonical content + previous hash). All writers take the single
AuditChainHead row first, so concurrent transactions queue up instead of forking the chain.
"""

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from .models import AliasRequest, AuditChainHead, AuditEvent, AuditEventExtension, VicidialCall
from .roles import role_label

EventType = AuditEvent.Type
USER_AGENT_LENGTH = AuditEvent._meta.get_field("user_agent").max_length


@dataclass(frozen=True)
class AuditContext:
    """Where an action came from; one per user action, so its events share a correlation id."""

    source_ip: str = ""
    user_agent: str = ""
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_request(cls, request: HttpRequest) -> "AuditContext":
        cached = getattr(request, "_audit_context", None)
        if cached is None:
            cached = cls(
                source_ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_LENGTH],
            )
            request._audit_context = cached
        return cached

    @classmethod
    def system(cls, what: str) -> "AuditContext":
        return cls(user_agent=what[:USER_AGENT_LENGTH])


def client_ip(request: HttpRequest) -> str:
    if settings.AUDIT_TRUST_X_FORWARDED_FOR:
        # The proxy appends the address it saw; earlier entries are the client's to forge.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()[:45]
    return request.META.get("REMOTE_ADDR", "")[:45]


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
    return {
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event_type": event.event_type,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "actor_role": event.actor_role,
        "source_ip": event.source_ip,
        "user_agent": event.user_agent,
        "correlation_id": event.correlation_id,
        "request_id": event.request_id,
        "call_id": event.call_id,
        "extensions": event.extensions,
        "outcome": event.outcome,
        "reason": event.reason,
        "changes": event.changes,
    }


def chain_hash(content: dict[str, Any], prev_hash: str) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode() + prev_hash.encode()).hexdigest()


def _take_chain_head() -> AuditChainHead:
    # The UPDATE comes first: it takes the row lock on PostgreSQL and SQLite's write lock,
    # so the head read next cannot change under this transaction.
    if not AuditChainHead.objects.filter(pk=1).update(sequence=F("sequence") + 1):
        latest = AuditEvent.objects.order_by("-sequence").first()
        AuditChainHead.objects.get_or_create(
            pk=1,
            defaults={
                "sequence": latest.sequence if latest else 0,
                "hash": latest.hash if latest else "",
            },
        )
        AuditChainHead.objects.filter(pk=1).update(sequence=F("sequence") + 1)
    return AuditChainHead.objects.get(pk=1)


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
    """Append one event. Call it inside the transaction of the change it records."""
    context = context or AuditContext()
    if actor is not None and not actor.is_authenticated:
        actor = None
    extensions = list(dict.fromkeys(extensions or ()))
    with transaction.atomic():
        head = _take_chain_head()
        event = AuditEvent(
            sequence=head.sequence,
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
        event.save()
        AuditEventExtension.objects.bulk_create(
            AuditEventExtension(event=event, login=login) for login in extensions
        )
        AuditChainHead.objects.filter(pk=1).update(hash=event.hash)
    return event


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    hash: str

    def as_json(self) -> str:
        return json.dumps({"sequence": self.sequence, "hash": self.hash})

    @classmethod
    def from_json(cls, text: str) -> "Checkpoint":
        data = json.loads(text)
        return cls(sequence=int(data["sequence"]), hash=str(data["hash"]))


@dataclass(frozen=True)
class ChainReport:
    count: int
    head: Checkpoint
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def current_checkpoint() -> Checkpoint:
    latest = AuditEvent.objects.order_by("-sequence").only("sequence", "hash").first()
    return Checkpoint(latest.sequence, latest.hash) if latest else Checkpoint(0, "")


def _first_break(events: Iterator[AuditEvent]) -> tuple[int, Checkpoint, str]:
    count, previous = 0, Checkpoint(0, "")
    for event in events:
        expected = previous.sequence + 1
        if event.sequence != expected:
            missing = f"#{expected}" if event.sequence == expected + 1 else f"#{expected}..."
            return (
                count,
                previous,
                f"event {missing} is missing: removed from before #{event.sequence}",
            )
        if event.prev_hash != previous.hash:
            return (
                count,
                previous,
                (
                    f"event #{event.sequence} does not link to #{previous.sequence}: "
                    "inserted out of place, or the event before it was rewritten"
                ),
            )
        if chain_hash(canonical_content(event), event.prev_hash) != event.hash:
            return count, previous, f"event #{event.sequence} was altered after it was written"
        count, previous = count + 1, Checkpoint(event.sequence, event.hash)
    return count, previous, ""


def verify_chain(*, checkpoint: Checkpoint | None = None) -> ChainReport:
    events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000)
    count, last, problem = _first_break(events)
    if problem:
        return ChainReport(count, last, problem)
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.sequence, head.hash) != (last.sequence, last.hash):
        return ChainReport(
            count,
            last,
            f"the chain ends at #{last.sequence} but its head says #{head.sequence}: "
            "the newest events were removed",
        )
    if checkpoint is not None:
        if checkpoint.sequence > last.sequence:
            return ChainReport(
                count,
                last,
                f"the chain ends at #{last.sequence} but the checkpoint saw "
                f"#{checkpoint.sequence}: events were cut off the end",
            )
        at_checkpoint = AuditEvent.objects.filter(sequence=checkpoint.sequence).first()
        if checkpoint.sequence and (at_checkpoint is None or at_checkpoint.hash != checkpoint.hash):
            return ChainReport(
                count, last, f"event #{checkpoint.sequence} differs from the checkpoint"
            )
    return ChainReport(count, last)


def export_line(event: AuditEvent) -> dict[str, Any]:
    """An event as exported: its hashed content plus the links, so a copy verifies offline."""
    return {**canonical_content(event), "prev_hash": event.prev_hash, "hash": event.hash}


def verify_exported_line(line: dict[str, Any]) -> bool:
    content = {key: value for key, value in line.items() if key not in ("prev_hash", "hash")}
    return chain_hash(content, line["prev_hash"]) == line["hash"]
