"""verify_audit's ranges in worker processes, all reading the coordinator's snapshot.

The coordinator's REPEATABLE READ transaction exports its snapshot, and each worker
imports it, so every range is read as of the same moment as the head, the digests and
the orphan check, while writers carry on. Workers are forked: they share the key ring
and settings without pickling a secret, and open their own connections, never Django's.
"""

import multiprocessing
import multiprocessing.util
from collections.abc import Iterator

import psycopg
from django.db import connection
from psycopg import sql

from .keys import key_ring
from .ranges import RangeSummary, copy_rows, walk_range
from .rows import RowEncoder

_worker: dict = {}


def export_snapshot() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        return cursor.fetchone()[0]


def _connection_params() -> dict:
    params = connection.get_connection_params()
    # Django's cursor class and type adapters: the workers read bytes through COPY.
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return params


def _start(params: dict, role: str | None, snapshot: str, seen: dict) -> None:
    try:
        worker = psycopg.connect(**params)
        worker.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        worker.read_only = True
        if role:
            worker.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        worker.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        # Each range's query would otherwise be JIT-compiled, for a second of CPU each.
        worker.execute("SET LOCAL jit = off")
        multiprocessing.util.Finalize(None, worker.close, exitpriority=10)
        _worker.update(
            cursor=worker.cursor(),
            macs=key_ring().mac_functions(),
            seen=seen,
            encoder=RowEncoder(),
        )
    except Exception as error:  # noqa: BLE001 - re-raised by the first range, in the caller
        # A Pool replaces a worker whose start-up raised, forever: report it through a task.
        _worker["error"] = error


def _verify(bounds: tuple[int, int]) -> RangeSummary:
    if "error" in _worker:
        raise _worker["error"]
    return walk_range(
        copy_rows(_worker["cursor"], *bounds),
        macs=_worker["macs"],
        seen=_worker["seen"],
        encoder=_worker["encoder"],
    )


def summaries(
    ranges: list[tuple[int, int]], *, jobs: int, snapshot: str, seen: dict
) -> Iterator[RangeSummary]:
    """Each range's summary, in sequence order, as the workers finish them."""
    role = connection.settings_dict["OPTIONS"].get("assume_role")
    pool = multiprocessing.get_context("fork").Pool(
        min(jobs, len(ranges)),
        initializer=_start,
        initargs=(_connection_params(), role, snapshot, seen),
    )
    finished = False
    try:
        yield from pool.imap(_verify, ranges)
        finished = True
    finally:
        if finished:
            pool.close()
        else:
            # Stopped at a problem, or failed: what the workers still read proves nothing.
            pool.terminate()
        pool.join()
