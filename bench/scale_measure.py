"""Timing one figure server-side: N runs through Django's test client (or a direct call),
with the queries, commits and chain-head locks of the last run counted."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

# A run slower than this is not repeated: one figure must not eat the harness's budget.
SLOW_RUN_SECONDS = 20.0


@dataclass
class Counts:
    queries: int = 0
    commits: int = 0
    head_locks: int = 0


@contextmanager
def counting(counts: Counts):
    """Count SQL statements, transactions committed (explicit commits of atomic blocks plus
    writes made in autocommit) and locks of the audit chain head."""

    def wrapper(execute, sql, params, many, context):
        counts.queries += 1
        text = sql.lstrip()[:6].upper()
        if not connection.in_atomic_block and text in ("INSERT", "UPDATE", "DELETE"):
            counts.commits += 1
        if "aliases_auditchainhead" in sql and "FOR UPDATE" in sql:
            counts.head_locks += 1
        return execute(sql, params, many, context)

    original = connection.commit

    def commit():
        counts.commits += 1
        return original()

    connection.commit = commit
    try:
        with connection.execute_wrapper(wrapper):
            yield counts
    finally:
        del connection.commit


@dataclass
class Figure:
    """One line of the table: a name, the run times in ms, the last run's counts."""

    name: str
    times_ms: list[float] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    note: str = ""
    failed: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else float("nan")


def timed(name: str, action: Callable[[], object], runs: int, *, warm: bool = True) -> Figure:
    """Run `action` `runs` times (after one untimed warm-up if `warm`)."""
    figure = Figure(name)
    try:
        if warm:
            action()
        for _ in range(runs):
            counts = Counts()
            with counting(counts):
                began = time.perf_counter()
                outcome = action()
                elapsed = time.perf_counter() - began
            figure.times_ms.append(elapsed * 1000)
            figure.counts = counts
            if isinstance(outcome, str):
                figure.note = outcome
            if elapsed > SLOW_RUN_SECONDS:
                break
    except Exception as error:  # noqa: BLE001 - one broken page must not hide the others
        figure.failed = f"{type(error).__name__}: {error}"[:200]
    return figure


def fetch(client, url: str, *, expect: tuple[int, ...] = (200,)) -> Callable[[], str]:
    """A GET through the test client, streamed content consumed in full."""

    def action() -> str:
        response = client.get(url)
        if response.status_code not in expect:
            raise AssertionError(f"GET {url} answered {response.status_code}")
        size = 0
        if response.streaming:
            for chunk in response.streaming_content:
                size += len(chunk)
        else:
            size = len(response.content)
        return f"{size / 1024:,.0f} KiB" if size > 100 * 1024 else ""

    return action
