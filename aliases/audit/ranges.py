"""The database's chain, verified a range of sequences at a time.

Each event stores the hash it links to, so a range is verified on its own: every check but
its first event's link, which join() makes against the range before. That lets ranges run
in parallel processes (parallel.py) and still name the same first problem, in the same
words, as one walk from the start would.
"""

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from django.db import connection
from psycopg import pq

from ..models import AuditEvent, AuditEventExtension
from . import problems
from .chain import CONTENT_KEYS, HASHED_TIME_FORMAT, LINK_KEYS, NUMBER_KEYS, hashed_time
from .rows import (
    EXTENSIONS,
    HASH,
    INDEXED,
    KEY_ID,
    MAC,
    PREV_HASH,
    ROW_KEYS,
    RowEncoder,
    copy_field,
    expected_index,
)

# Events per range: small enough to spread over the workers and keep memory flat, large
# enough that starting a range (one query) costs nothing next to verifying it.
RANGE_EVENTS = 25_000
DRIVER_CHUNK = 5000


@dataclass(frozen=True)
class Checkpoint:
    """A point of the chain: an event's sequence and hash (0 and "" before the first)."""

    sequence: int
    hash: str


@dataclass(frozen=True)
class RangeSummary:
    """What a range showed, to be joined with the ranges before it."""

    # The first event's sequence and the hash it links to; None for an empty range.
    first: tuple[int, str] | None = None
    count: int = 0
    # The last good event; None if there was none.
    last: Checkpoint | None = None
    unkeyed: int = 0
    first_keyed: int = 0
    # The first event without a MAC while none before it in the range had one, with what
    # preceded it in the range: a problem if an earlier range had a keyed event.
    leading_unkeyed: tuple[int, int, Checkpoint | None] | None = None
    problem: str = ""
    problem_sequence: int = 0
    # The problem is an event without a MAC after a keyed one, which the message names: the
    # chain's first keyed event may be in an earlier range.
    unkeyed_problem: bool = False


@dataclass(frozen=True)
class Joined:
    count: int
    last: Checkpoint
    unkeyed: int
    problem: str = ""


def split(first: int, last: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]


def digests_by_sequence(digests: Iterable) -> dict[int, list[tuple[str, str]]]:
    seen: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for digest in digests:
        seen[digest.sequence].append((digest.head_hash, digest.describe()))
    return dict(seen)


def walk_range(
    rows: Iterable[list],
    *,
    macs: dict[bytes, Callable[[bytes], bytes]],
    seen: dict[int, list[tuple[str, str]]],
    encoder: RowEncoder,
) -> RangeSummary:
    """Every check of verify_audit on a range's rows (rows.py), in order, up to the first
    problem. Written for speed: it runs once per event of the whole trail."""
    canonical = encoder.canonical
    sha256 = hashlib.sha256
    compare = hmac.compare_digest
    index_expected: dict[bytes, bytes | None] = {}
    count = unkeyed = first_keyed = 0
    last_sequence, last_hash = 0, b""
    first = leading_unkeyed = None

    def summary(problem: str = "", sequence: int = 0, unkeyed_problem=False) -> RangeSummary:
        last = Checkpoint(last_sequence, last_hash.decode()) if count else None
        return RangeSummary(
            first,
            count,
            last,
            unkeyed,
            first_keyed,
            leading_unkeyed,
            problem,
            sequence,
            unkeyed_problem,
        )

    for row in rows:
        sequence = int(row[0])
        prev_hash, own_hash = row[PREV_HASH], row[HASH]
        if first is None:
            first = (sequence, prev_hash.decode())
        elif sequence != last_sequence + 1 or prev_hash != last_hash:
            problem = problems.link_problem(
                sequence, prev_hash.decode(), last_sequence, last_hash.decode()
            )
            return summary(problem, sequence)
        if sha256(canonical(row)).hexdigest().encode() != own_hash:
            return summary(problems.altered(sequence), sequence)
        key_id, mac = row[KEY_ID], row[MAC]
        if key_id or mac:
            first_keyed = first_keyed or sequence
            mac_of = macs.get(key_id)
            if mac_of is None:
                return summary(problems.unknown_key(sequence, key_id.decode()), sequence)
            if not compare(mac_of(own_hash), mac):
                return summary(problems.bad_mac(sequence, key_id.decode()), sequence)
        elif first_keyed:
            problem = problems.unkeyed_after_keyed(sequence, first_keyed)
            return summary(problem, sequence, unkeyed_problem=True)
        else:
            if leading_unkeyed is None:
                before = Checkpoint(last_sequence, last_hash.decode()) if count else None
                leading_unkeyed = (sequence, count, before)
            unkeyed += 1
        if seen and sequence in seen:
            for head_hash, description in seen[sequence]:
                if head_hash != own_hash.decode():
                    return summary(problems.digest_differs(sequence, description), sequence)
        extensions = row[EXTENSIONS]
        expected = index_expected.get(extensions, b"")
        if expected == b"":
            if len(index_expected) > 4096:
                index_expected.clear()
            expected = index_expected[extensions] = expected_index(_json(extensions))
        if expected is None or expected != row[INDEXED]:
            problem = problems.index_problem(sequence, _json(extensions), _json(row[INDEXED]) or [])
            if problem:
                return summary(problem, sequence)
        count += 1
        last_sequence, last_hash = sequence, own_hash
    return summary()


def _json(raw: bytes | None):
    return None if raw is None else json.loads(raw)


def join(summaries: Iterable[RangeSummary]) -> Joined:
    """The ranges, in sequence order, as one walk from the start: links each range's first
    event to the range before it, and stops at the first problem."""
    count = unkeyed = first_keyed = 0
    last = Checkpoint(0, "")
    for part in summaries:
        if part.first is None:
            continue
        problem = problems.link_problem(*part.first, last.sequence, last.hash)
        if problem:
            return Joined(count, last, unkeyed, problem)
        if first_keyed and part.leading_unkeyed is not None:
            sequence, good_before, before = part.leading_unkeyed
            if not part.problem or sequence <= part.problem_sequence:
                problem = problems.unkeyed_after_keyed(sequence, first_keyed)
                return Joined(count + good_before, before or last, unkeyed, problem)
        count += part.count
        unkeyed += part.unkeyed
        last = part.last or last
        if part.problem and part.unkeyed_problem and first_keyed:
            problem = problems.unkeyed_after_keyed(part.problem_sequence, first_keyed)
            return Joined(count, last, unkeyed, problem)
        if part.problem:
            return Joined(count, last, unkeyed, part.problem)
        first_keyed = first_keyed or part.first_keyed
    return Joined(count, last, unkeyed)


# --- the rows, from PostgreSQL -----------------------------------------------------------

_EXPRESSIONS = {
    # hashed_time's form, made by the database: no datetime objects on the way.
    "occurred_at": f"to_char(e.occurred_at AT TIME ZONE 'UTC', '{HASHED_TIME_FORMAT}')",
    # json_agg without ORDER BY comes in the index's order, which is the writer's.
    "indexed": (
        "COALESCE((SELECT json_agg(x.login) FROM {index} x WHERE x.event_id = e.id), '[]')"
    ),
}


def _copy_sql() -> str:
    columns = []
    for key in ROW_KEYS:
        if key in _EXPRESSIONS:
            columns.append(_EXPRESSIONS[key])
        elif key in NUMBER_KEYS and key != "sequence":
            # The JSON form of an id, so a NULL is not COPY's \N (which would need unescaping).
            columns.append(f"COALESCE(e.{key}::text, 'null')")
        else:
            columns.append(f"e.{key}")
    select = ", ".join(columns).format(index=AuditEventExtension._meta.db_table)
    return (
        f"COPY (SELECT {select} FROM {AuditEvent._meta.db_table} e "  # noqa: S608 (no input)
        "WHERE e.sequence BETWEEN %s AND %s ORDER BY e.sequence) TO STDOUT"
    )


COPY_SQL = _copy_sql()


def copy_rows(cursor, first: int, last: int) -> Iterator[list]:
    """Rows through COPY's text format: split on tabs, and unescaped only where needed.

    Read from libpq directly, a blocking call per row: psycopg's Copy iterator runs a
    generator and a wait per row, which cost as much as splitting the row. COPY takes no
    parameters, so the bounds go in as the integers they are."""
    pgconn, encoding = cursor.connection.pgconn, cursor.connection.info.encoding
    started = pgconn.exec_((COPY_SQL % (int(first), int(last))).encode())
    if started.status != pq.ExecStatus.COPY_OUT:
        raise psycopg.errors.error_from_result(started, encoding)
    read = pgconn.get_copy_data
    size = 0
    try:
        while True:
            size, data = read(0)
            if size < 0:  # -1: the end; -2: an error, which the final result carries
                break
            line = bytes(data)[:-1]
            if b"\\" in line:
                yield [copy_field(field) for field in line.split(b"\t")]
            else:
                yield line.split(b"\t")
    finally:
        # Stopped at a problem: read the rest, so the connection can take the next query.
        while size >= 0:
            size, data = read(0)
        _finish(pgconn, encoding)


def _finish(pgconn, encoding: str) -> None:
    """Collect COPY's final results; raise the first error among them."""
    error = None
    while (result := pgconn.get_result()) is not None:
        if result.status != pq.ExecStatus.COMMAND_OK and error is None:
            error = psycopg.errors.error_from_result(result, encoding)
    if error is not None:
        raise error


# --- the rows, from any database (SQLite) ------------------------------------------------


def _driver_rows(queryset) -> Iterator[tuple]:
    """The rows as the driver gives them: Django's per-value converters would cost more than
    the hashing, and would parse the JSON columns the verifier must re-encode itself."""
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(DRIVER_CHUNK):
            yield from rows


def _field(key: str, value) -> bytes | None:
    if value is None:
        return b"null" if key in NUMBER_KEYS else None
    if isinstance(value, datetime):
        # SQLite gives back the UTC time Django stored, naive.
        return hashed_time(value if value.tzinfo else value.replace(tzinfo=UTC)).encode()
    return str(value).encode()


def orm_rows(first: int, last: int) -> Iterator[list]:
    index: dict[int, list[str]] = defaultdict(list)
    rows = AuditEventExtension.objects.filter(event__sequence__range=(first, last))
    for event_id, login in _driver_rows(rows.order_by("id").values_list("event_id", "login")):
        index[event_id].append(login)
    events = AuditEvent.objects.filter(sequence__range=(first, last)).order_by("sequence")
    keys = (*CONTENT_KEYS, *LINK_KEYS)
    for event_id, *values in _driver_rows(events.values_list("id", *keys)):
        row = [_field(key, value) for key, value in zip(keys, values, strict=True)]
        row.append(json.dumps(index.pop(event_id, [])).encode())
        yield row
