"""The one writer of the audit trail, and the canonical form every event is hashed in.

Each event stores hash = sha256(canonical content + previous hash), which anyone can recompute,
and mac = HMAC(key, key id + hash), which only a holder of the environment's key can. Writers
lock the single AuditChainHead row, so concurrent transactions queue up instead of forking
the chain. The head is the last lock a transaction takes: anything else a caller needs locked
it locks before recording, or two writers could wait on each other.

A transaction that writes several events wraps its steps in `batched()`: their record()s
are then written together when the block ends, under one lock of the head, with one INSERT
for the events and one for their index rows. The hashes are the same as one by one.
"""

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models.sql import InsertQuery
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
# The content's numbers (ids may be null) and its two JSON values; the rest is text.
NUMBER_KEYS = frozenset({"sequence", "actor_id", "request_id", "call_id"})
JSON_KEYS = frozenset({"extensions", "changes"})


def hashed_time(moment: datetime) -> str:
    """2026-01-15T09:30:00.123456Z: UTC whatever TIME_ZONE or the host's clock say, so the
    same instant always hashes the same; microseconds always, as the database keeps them."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


# hashed_time's form as PostgreSQL writes it: to_char(<UTC timestamp>, HASHED_TIME_FORMAT).
HASHED_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _as_jsonb_reads_it(number: str) -> float | int:
    # jsonb keeps a number's value, not its spelling: 1e+16 comes back as 10000000000000000,
    # which Python reads as an int. Every float that large is a whole number (a double has
    # 53 bits of mantissa), so it is stored as that int from the start.
    value = float(number)
    return int(value) if math.isfinite(value) and abs(value) >= 1e16 else value


def _storable(value: Any) -> Any:
    """`value` as the database gives it back, since what is hashed must be what is read:
    JSON round-tripped, large floats as jsonb reads them back, and NUL (which PostgreSQL
    cannot store) turned into U+FFFD."""
    text = json.dumps(value, cls=DjangoJSONEncoder)
    return _without_nul(json.loads(text, parse_float=_as_jsonb_reads_it))


def canonical_content(event: AuditEvent) -> dict[str, Any]:
    content = {key: getattr(event, key) for key in CONTENT_KEYS}
    content["occurred_at"] = hashed_time(event.occurred_at)
    return content


def canonical_bytes(content: dict[str, Any], prev_hash: str) -> bytes:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return canonical.encode() + prev_hash.encode()


def chain_hash(content: dict[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical_bytes(content, prev_hash)).hexdigest()


# The events record() queued in the innermost open batched() block, and the savepoint depth
# that block was opened at.
_batch: ContextVar[tuple[list[AuditEvent], int] | None] = ContextVar("audit_batch", default=None)


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


def index_logins(extensions: list[str]) -> list[str]:
    # The index is case-insensitive (one row per event and LOWER(login)), as VICIdial is.
    first_spelling: dict[str, str] = {}
    for login in extensions:
        first_spelling.setdefault(login.lower(), login)
    return list(first_spelling.values())


def audit_event(
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
    """An event's content, not yet in the chain: record_many() gives it its place."""
    context = context or AuditContext()
    if actor is not None and not actor.is_authenticated:
        actor = None
    return AuditEvent(
        event_type=EventType(event_type),
        actor=actor,
        actor_username=_storable(actor.get_username() if actor else actor_username),
        actor_role=role_label(actor) if actor else "",
        source_ip=_storable(context.source_ip),
        user_agent=_storable(context.user_agent),
        correlation_id=context.correlation_id,
        request=request,
        call=call,
        extensions=_storable(list(dict.fromkeys(extensions or ()))),
        outcome=outcome,
        reason=_storable(reason),
        changes=_storable(changes or {}),
    )


def record_many(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """Append events made by audit_event(), in order: one lock of the chain head, one INSERT
    for the events and one for their index rows, then the head moved along them. Call it
    inside the transaction of the change they record, after taking every other lock that
    transaction needs."""
    if not events:
        return []
    ring = key_ring()
    # No savepoint: an event that cannot be written must undo the change it records, so a
    # failure here fails the caller's whole transaction (and saves two statements).
    with transaction.atomic(savepoint=False):
        head = _lock_chain_head()
        sequence, prev_hash = head.sequence, head.hash
        for event in events:
            _link_saved_rows(event)
            sequence += 1
            event.sequence = sequence
            event.occurred_at = timezone.now()
            event.prev_hash = prev_hash
            event.hash = chain_hash(canonical_content(event), prev_hash)
            event.key_id = ring.signing_id
            event.mac = ring.mac(ring.signing_id, event.hash)
            prev_hash = event.hash
        # One step per event: the head's trigger (models/audit.py) lets it move only to the
        # next written event, so that no UPDATE can skip it past events cut off the end. On
        # PostgreSQL the INSERT takes the first step itself.
        moved = _insert(events)
        for event in events[moved:]:
            AuditChainHead.objects.filter(pk=1).update(sequence=event.sequence, hash=event.hash)
    return list(events)


def _link_saved_rows(event: AuditEvent) -> None:
    # The request or call an event names may have been saved after audit_event() (a batch
    # is written at the end of its transaction): their ids are hashed, so take them now.
    for name in ("request", "call"):
        related = getattr(event, name)  # cached by audit_event(): no query
        setattr(event, f"{name}_id", related.pk if related is not None else None)


def _insert(events: Sequence[AuditEvent]) -> int:
    """Write the events and their index rows; how many steps the head was moved (0 or 1)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        _insert_with_index_rows(events, connection)
        return 1
    if connection.features.can_return_rows_from_bulk_insert:
        AuditEvent.objects.bulk_create(events)
    else:  # the index rows need the events' ids
        for event in events:
            event.save()
    AuditEventExtension.objects.bulk_create(
        AuditEventExtension(event=event, login=login)
        for event in events
        for login in index_logins(event.extensions)
    )
    return 0


# One statement, one round trip, where three were: the events' INSERT as bulk_create()
# writes it, their index rows from its RETURNING, and the head's first step. The step's
# condition reads the newest written event (the MAX of their sequences, an aggregate over
# all of them), so PostgreSQL has run the INSERT to its end
# before the head's row qualifies; the head's trigger (a volatile function) then sees the
# events this statement wrote, as it checks that the head moves to one of them.
WITH_INDEX_ROWS_AND_STEP = (
    "WITH written AS ({insert}), indexed AS ("
    "INSERT INTO {index} ({event_id}, {login}) SELECT written.{id}, logins.login FROM written "
    "INNER JOIN UNNEST(%s::bigint[], %s::varchar[]) AS logins(sequence, login) "
    "ON logins.sequence = written.{sequence}) "
    "UPDATE {head} SET {head_sequence} = %s, {head_hash} = %s "
    "WHERE {head_id} = 1 AND (SELECT MAX(written.{sequence}) FROM written) = %s "
    "RETURNING (SELECT ARRAY_AGG(written.{id} ORDER BY written.{sequence}) FROM written)"
)


def _insert_with_index_rows(events: Sequence[AuditEvent], connection) -> None:
    meta = AuditEvent._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    query = InsertQuery(AuditEvent)
    query.insert_values(fields, events)
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [meta.pk, meta.get_field("sequence")]
    ((insert, params),) = compiler.as_sql()
    sequences, logins = [], []
    for event in events:
        for login in index_logins(event.extensions):
            sequences.append(event.sequence)
            logins.append(login)
    index_meta, head_meta = AuditEventExtension._meta, AuditChainHead._meta
    quote = connection.ops.quote_name
    statement = WITH_INDEX_ROWS_AND_STEP.format(
        insert=insert,
        index=quote(index_meta.db_table),
        event_id=quote(index_meta.get_field("event").column),
        login=quote(index_meta.get_field("login").column),
        id=quote(meta.pk.column),
        sequence=quote(meta.get_field("sequence").column),
        head=quote(head_meta.db_table),
        head_sequence=quote(head_meta.get_field("sequence").column),
        head_hash=quote(head_meta.get_field("hash").column),
        head_id=quote(head_meta.pk.column),
    )
    first = events[0]
    step = (first.sequence, first.hash, events[-1].sequence)
    with connection.cursor() as cursor:
        cursor.execute(statement, (*params, sequences, logins, *step))
        row = cursor.fetchone()
    if row is None:  # the head row was locked by this transaction: only a bug gets here
        raise RuntimeError("The audit chain head did not move to the events just written.")
    for event, pk in zip(events, row[0], strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias


def _savepoint_depth() -> int:
    return sum(1 for sid in transaction.get_connection().savepoint_ids if sid is not None)


@contextmanager
def batched() -> Iterator[None]:
    """Within the block, record() queues its events; they are written when the block ends
    without an error (record_many). Open it inside the transaction, around the steps whose
    events it gathers: the head is then taken once, last, as the lock order wants. An error
    out of the block marks the transaction for rollback; a savepoint opened inside the block
    may not record."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("batched() belongs inside the transaction whose events it writes.")
    if _batch.get() is not None:
        yield  # an enclosing block writes them
        return
    queued: list[AuditEvent] = []
    token = _batch.set((queued, _savepoint_depth()))
    try:
        yield
    except BaseException:
        # The queued events die with the block: a caller that catches the error inside the
        # same transaction must not commit the block's changes without them.
        transaction.set_rollback(True)
        raise
    finally:
        _batch.reset(token)
    record_many(queued)


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
    taking every other lock that transaction needs. Inside a batched() block the event is
    written when the block ends; the object returned is saved then."""
    event = audit_event(
        event_type=event_type,
        actor=actor,
        context=context,
        request=request,
        call=call,
        extensions=extensions,
        outcome=outcome,
        reason=reason,
        changes=changes,
        actor_username=actor_username,
    )
    batch = _batch.get()
    if batch is None:
        record_many([event])
    elif batch[1] == _savepoint_depth():
        batch[0].append(event)
    else:
        # Written at once, it would go into the chain ahead of the events queued before it
        # and take the head mid-transaction, against the lock order; queued, it would
        # outlive a rollback of its savepoint.
        raise RuntimeError(
            "record() inside a savepoint opened within a batched() block: record before "
            "the savepoint, or open the batched() block inside it."
        )
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
