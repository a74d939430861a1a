"""Verifying the trail: in the database (with the MAC keys) or as an export (offline).

In the database, ranges of sequences are verified (ranges.py), in parallel worker processes
on PostgreSQL (parallel.py), and joined in sequence order; an export is one pass. Either
way the cost stays linear, the memory flat at millions of events, and the first problem
found is named; what comes after a break proves nothing either way.
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef

from portal.cores import usable_cores

from ..models import AuditChainHead, AuditDigest, AuditEvent, AuditEventExtension
from . import parallel, problems
from .chain import CONTENT_KEYS, LINK_KEYS, chain_hash, hashed_time
from .digests import Digest
from .keys import KeyRing, key_ring
from .ranges import (
    RANGE_EVENTS,
    Checkpoint,
    copy_rows,
    digests_by_sequence,
    join,
    orm_rows,
    split,
    walk_range,
)
from .rows import RowEncoder

EVENT_COLUMNS = (*CONTENT_KEYS, *LINK_KEYS)


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
            return problems.out_of_order(sequence, self.last.sequence)
        adjacent = sequence == expected
        if not adjacent and not self.gaps_allowed:
            return problems.missing(expected, sequence)
        if adjacent and prev_hash != self.last.hash:
            return problems.unlinked(sequence, self.last.sequence)
        if chain_hash(content, prev_hash) != own_hash:
            return problems.altered(sequence)
        problem = self._mac_problem(
            sequence, own_hash, links.get("key_id", ""), links.get("mac", "")
        )
        if problem:
            return problem
        for digest in self.seen_by.get(sequence, ()):
            if digest.head_hash != own_hash:
                return problems.digest_differs(sequence, digest.describe())
        self.count += 1
        self.last = Checkpoint(sequence, own_hash)
        return ""

    def _mac_problem(self, sequence: int, own_hash: str, key_id: str, mac: str) -> str:
        if not key_id and not mac:
            if self.first_keyed:
                return problems.unkeyed_after_keyed(sequence, self.first_keyed)
            self.unkeyed += 1
            return ""
        self.first_keyed = self.first_keyed or sequence
        if self.ring is None:
            return ""
        if key_id not in self.ring:
            return problems.unknown_key(sequence, key_id)
        if not self.ring.verifies(key_id, own_hash, mac):
            return problems.bad_mac(sequence, key_id)
        return ""

    def finish(self) -> str:
        return _tail_problem(self.digests, self.last)

    def report(self, problem: str = "") -> ChainReport:
        return ChainReport(self.count, self.last, problem, self.unkeyed, self.digests)


def _tail_problem(digests: tuple[Digest, ...], last: Checkpoint) -> str:
    if not digests:
        return ""
    furthest = max(digests, key=lambda digest: (digest.sequence, digest.created_at))
    if furthest.sequence > last.sequence:
        return problems.cut_off(last.sequence, furthest.describe(), furthest.sequence)
    return ""


@contextmanager
def _one_snapshot() -> Iterator[bool]:
    """Read events, index, head and digest records as of one moment, so concurrent writers
    cannot make a sound trail look broken. Yields whether the snapshot is this call's own,
    which worker processes can share; a caller's transaction may hold rows they cannot see."""
    if connection.in_atomic_block:
        yield False
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # No parallel plans either: for the orphan check the planner would pick a
                # parallel hash join, which spills (2.6 million index rows: 1.2 s and three
                # processes); a merge of the two id indexes in this one takes 0.3 s.
                cursor.execute("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0")
        yield True


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


def default_jobs() -> int:
    return usable_cores()


def verify_chain(
    *,
    digests: Iterable[Digest] = (),
    jobs: int | None = None,
    range_events: int = RANGE_EVENTS,
) -> ChainReport:
    """Verify the database's chain, MACs and index, against digests already checked by
    digests.verify_series; with `jobs` worker processes on PostgreSQL (default: one per
    CPU) when the chain spans more than one range of `range_events` events."""
    digests = tuple(digests)
    jobs = jobs or default_jobs()
    with _one_snapshot() as own_snapshot:
        bounds = AuditEvent.objects.aggregate(first=Min("sequence"), last=Max("sequence"))
        ranges = split(bounds["first"] or 1, bounds["last"] or 0, range_events)
        seen = digests_by_sequence(digests)
        parts = _range_summaries(ranges, seen, jobs if own_snapshot else 1)
        try:
            joined = join(parts)
        finally:
            # Stop the workers, or close the cursor, inside the snapshot's transaction.
            parts.close()
        problem = joined.problem or _after_the_events(joined.last, digests)
    return ChainReport(joined.count, joined.last, problem, joined.unkeyed, digests)


def _range_summaries(ranges: list[tuple[int, int]], seen: dict, jobs: int) -> Iterator:
    if connection.vendor != "postgresql":
        encoder, macs = RowEncoder(), key_ring().mac_functions()
        for bounds in ranges:
            yield walk_range(orm_rows(*bounds), macs=macs, seen=seen, encoder=encoder)
    elif jobs > 1 and len(ranges) > 1:
        snapshot = parallel.export_snapshot()
        yield from parallel.summaries(ranges, jobs=jobs, snapshot=snapshot, seen=seen)
    else:
        encoder, macs = RowEncoder(), key_ring().mac_functions()
        with connection.cursor() as cursor:
            for bounds in ranges:
                rows = copy_rows(cursor.cursor, *bounds)
                yield walk_range(rows, macs=macs, seen=seen, encoder=encoder)


def _after_the_events(last: Checkpoint, digests: tuple[Digest, ...]) -> str:
    orphans = _orphan_index_rows()
    if orphans:
        return f"{orphans} rows of the per-extension index point to no event: inserted by hand"
    return (
        _head_problem(last)
        or _tail_problem(digests, last)
        or (_unshipped_digest_problem(digests) if digests else "")
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
