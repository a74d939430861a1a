"""Verifying the trail: in the database (with the MAC keys) or as an export (offline).

One pass in sequence order over the events, and alongside it one pass in the same order over
the per-extension index, so the cost stays linear and the memory flat at millions of events.
The first problem found is named; what comes after a break proves nothing either way.
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, QuerySet

from ..models import AuditChainHead, AuditDigest, AuditEvent, AuditEventExtension
from .chain import CONTENT_KEYS, LINK_KEYS, chain_hash, hashed_time
from .digests import Digest
from .keys import KeyRing, key_ring

CHUNK = 5000
EVENT_COLUMNS = (*CONTENT_KEYS, *LINK_KEYS)


@dataclass(frozen=True)
class Checkpoint:
    """A point of the chain: an event's sequence and hash (0 and "" before the first)."""

    sequence: int
    hash: str


@dataclass(frozen=True)
class ChainReport:
    count: int
    head: Checkpoint
    problem: str = ""
    # Events written before the chain was keyed: hash-chained, but carrying no MAC.
    unkeyed: int = 0
    digests: tuple[Digest, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problem


class _Walk:
    """The checks one event at a time, shared by the database and the export."""

    def __init__(self, *, ring: KeyRing | None, digests: Iterable[Digest], gaps_allowed: bool):
        self.ring = ring
        self.gaps_allowed = gaps_allowed
        self.count = 0
        self.last = Checkpoint(0, "")
        self.unkeyed = 0
        self.first_keyed = 0
        self.digests = tuple(digests)
        self.seen_by: dict[int, list[Digest]] = defaultdict(list)
        for digest in self.digests:
            self.seen_by[digest.sequence].append(digest)

    def step(self, content: dict[str, Any], links: dict[str, str]) -> str:
        sequence, prev_hash, own_hash = content["sequence"], links["prev_hash"], links["hash"]
        expected = self.last.sequence + 1
        if sequence < expected:
            return f"event #{sequence} comes after #{self.last.sequence}: out of order"
        adjacent = sequence == expected
        if not adjacent and not self.gaps_allowed:
            missing = f"#{expected}" if sequence == expected + 1 else f"#{expected}..."
            return f"event {missing} is missing: removed from before #{sequence}"
        if adjacent and prev_hash != self.last.hash:
            return (
                f"event #{sequence} does not link to #{self.last.sequence}: "
                "inserted out of place, or the event before it was rewritten"
            )
        if chain_hash(content, prev_hash) != own_hash:
            return f"event #{sequence} was altered after it was written"
        problem = self._mac_problem(
            sequence, own_hash, links.get("key_id", ""), links.get("mac", "")
        )
        if problem:
            return problem
        for digest in self.seen_by.get(sequence, ()):
            if digest.head_hash != own_hash:
                return (
                    f"event #{sequence} differs from what {digest.describe()} saw: "
                    "the trail was rewritten (and re-hashed) since"
                )
        self.count += 1
        self.last = Checkpoint(sequence, own_hash)
        return ""

    def _mac_problem(self, sequence: int, own_hash: str, key_id: str, mac: str) -> str:
        if not key_id and not mac:
            if self.first_keyed:
                return (
                    f"event #{sequence} has no MAC although #{self.first_keyed} before it has "
                    "one: written without the audit key (forged), or its MAC was removed"
                )
            self.unkeyed += 1
            return ""
        self.first_keyed = self.first_keyed or sequence
        if self.ring is None:
            return ""
        if key_id not in self.ring:
            return (
                f"event #{sequence} names MAC key {key_id!r}, which AUDIT_HMAC_KEYS does not "
                "hold: forged, or a retired key was dropped from the ring too early"
            )
        if not self.ring.verifies(key_id, own_hash, mac):
            return (
                f"event #{sequence}: its MAC does not verify with key {key_id!r}: written or "
                "rewritten (and re-hashed) by someone without the audit key"
            )
        return ""

    def finish(self) -> str:
        if not self.digests:
            return ""
        furthest = max(self.digests, key=lambda digest: (digest.sequence, digest.created_at))
        if furthest.sequence > self.last.sequence:
            return (
                f"the chain ends at #{self.last.sequence} but {furthest.describe()} saw "
                f"#{furthest.sequence}: events were cut off the end"
            )
        return ""

    def report(self, problem: str = "") -> ChainReport:
        return ChainReport(self.count, self.last, problem, self.unkeyed, self.digests)


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """Read events, index, head and digest records as of one moment, so concurrent writers
    cannot make a sound trail look broken."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _rows(queryset: QuerySet) -> Iterator[tuple]:
    """The rows as the driver gives them, in chunks from a server-side cursor: Django's
    per-value converters would cost more than the hashing at millions of rows."""
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


def _aware(value: datetime) -> datetime:
    # PostgreSQL hands back an aware datetime; SQLite the UTC time Django stored, naive,
    # which astimezone() would otherwise take for the host's local time.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _database_events(last: int) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    queryset = AuditEvent.objects.filter(sequence__lte=last).order_by("sequence")
    content_width = len(CONTENT_KEYS)
    for row in _rows(queryset.values_list(*EVENT_COLUMNS)):
        content = dict(zip(CONTENT_KEYS, row[:content_width], strict=True))
        content["occurred_at"] = hashed_time(_aware(content["occurred_at"]))
        content["extensions"] = json.loads(content["extensions"])
        content["changes"] = json.loads(content["changes"])
        yield content, dict(zip(LINK_KEYS, row[content_width:], strict=True))


class _IndexCursor:
    """The per-extension index in event order, consumed alongside the events."""

    def __init__(self, last: int) -> None:
        self._rows = _rows(
            AuditEventExtension.objects.filter(event__sequence__lte=last)
            .order_by("event__sequence")
            .values_list("event__sequence", "login")
        )
        self._pending = next(self._rows, None)

    def close(self) -> None:
        self._rows.close()

    def problem_for(self, sequence: int, extensions: list[str]) -> str:
        indexed = set()
        while self._pending is not None and self._pending[0] == sequence:
            indexed.add(self._pending[1].lower())
            self._pending = next(self._rows, None)
        named = {login.lower() for login in extensions}
        if named == indexed:
            return ""
        if named - indexed:
            return (
                f"event #{sequence}: the per-extension index lacks {sorted(named - indexed)}: "
                "its rows were deleted"
            )
        return (
            f"event #{sequence}: the per-extension index adds {sorted(indexed - named)}, "
            "which the event does not name: rows were inserted"
        )


def _orphan_index_rows() -> int:
    return AuditEventExtension.objects.filter(
        ~Exists(AuditEvent.objects.filter(pk=OuterRef("event_id")))
    ).count()


def _head_problem(last: Checkpoint) -> str:
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None or (head.sequence, head.hash) == (last.sequence, last.hash):
        return ""
    if head.sequence > last.sequence:
        return (
            f"the chain ends at #{last.sequence} but its head says #{head.sequence}: "
            "the newest events were removed"
        )
    return (
        f"the chain head says #{head.sequence} but the chain ends at #{last.sequence}: "
        "the head was reset, or events were added behind the writer's back"
    )


def _unshipped_digest_problem(digests: tuple[Digest, ...]) -> str:
    """The digests this portal signed are recorded; the newest must be in the folder."""
    newest = AuditDigest.objects.order_by("-pk").first()
    if newest is None or newest.sha256 in {digest.sha256 for digest in digests}:
        return ""
    latest_given = max((digest.created_at for digest in digests), default="")
    if hashed_time(newest.created_at) <= latest_given:
        return ""
    return (
        f"digest {newest.file_name} (#{newest.sequence}, {hashed_time(newest.created_at)}), "
        "the newest the portal signed, is not in the folder: deleted, or not shipped there yet"
    )


def verify_chain(*, digests: Iterable[Digest] = ()) -> ChainReport:
    """Verify the database's chain, MACs and index, against digests already checked by
    digests.verify_series."""
    walk = _Walk(ring=key_ring(), digests=digests, gaps_allowed=False)
    with _one_snapshot():
        last = AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0
        events, index = _database_events(last), _IndexCursor(last)
        try:
            problem = _walk_database(walk, events, index)
        finally:
            # Close both server-side cursors inside the snapshot's transaction.
            events.close()
            index.close()
    return walk.report(problem)


def _walk_database(walk: _Walk, events: Iterator, index: _IndexCursor) -> str:
    for content, links in events:
        problem = walk.step(content, links) or index.problem_for(
            content["sequence"], content["extensions"]
        )
        if problem:
            return problem
    orphans = _orphan_index_rows()
    if orphans:
        return f"{orphans} rows of the per-extension index point to no event: inserted by hand"
    return (
        _head_problem(walk.last)
        or walk.finish()
        or (_unshipped_digest_problem(walk.digests) if walk.digests else "")
    )


def _export_line(text: str) -> tuple[dict[str, Any], dict[str, str]]:
    line = json.loads(text)
    if not isinstance(line, dict):
        raise ValueError("not an object")
    unexpected = set(line) - set(EVENT_COLUMNS)
    missing = set(EVENT_COLUMNS) - set(line) - {"key_id", "mac"}
    if unexpected or missing:
        raise ValueError(f"fields {sorted(unexpected | missing)}")
    content = {key: line[key] for key in CONTENT_KEYS}
    links = {key: line.get(key, "") for key in LINK_KEYS}
    return content, links


def verify_export(lines: Iterable[str], *, digests: Iterable[Digest] = ()) -> ChainReport:
    """Verify an export offline: hashes, links, and the digests (no MAC key, no database).

    A filtered export skips events, so its links are checked only where neighbours are
    adjacent; checking it against digests needs the whole trail.
    """
    digests = tuple(digests)
    walk = _Walk(ring=None, digests=digests, gaps_allowed=not digests)
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            content, links = _export_line(text)
            problem = walk.step(content, links)
        except (ValueError, KeyError, TypeError) as error:
            problem = f"not an exported audit event ({error})"
        if problem:
            return walk.report(f"line {number}: {problem}")
    return walk.report(walk.finish())
