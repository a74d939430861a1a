"""Where a load run's CPU goes: CPU seconds per group of processes, read from /proc (Linux),
and a py-spy profile of the gunicorn workers, summarised by function.

On a shared machine req/s says more about the neighbours than about the portal; CPU time per
request of each group (gunicorn, PostgreSQL, task workers, clients) does not.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.5  # seconds; a PostgreSQL backend that ends between samples loses its tail
PY_SPY = str(Path(sys.executable).with_name("py-spy"))
PROFILE_RATE = 100  # samples per second and process
# The samplers' own connections are left out of what they count.
SAMPLER = "load-sampler"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return text[text.rindex(")") + 2 :].split()


def process_cpu(pid: int) -> float | None:
    """CPU seconds of `pid`, its reaped children included (a worker gunicorn restarted)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # utime, stime, cutime, cstime are fields 14-17, i.e. 11-14 after the name.
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def tree_pids(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children_of(current)
    return pids


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), for the neighbours' share."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in first[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass
class Group:
    name: str
    pids: Callable[[], list[int]]
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def sample(self, *, at_start: bool) -> None:
        for pid in self.pids():
            seconds = process_cpu(pid)
            if seconds is None:
                continue
            # A process first seen after the start did all its work within the run.
            self.first.setdefault(pid, seconds if at_start else 0.0)
            self.last[pid] = seconds

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


class CpuSampler:
    """Samples the groups' CPU times from start() to stop(), every SAMPLE_EVERY seconds."""

    def __init__(self, groups: list[Group]) -> None:
        self.groups = groups
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.wall = self.client_cpu = self.machine = 0.0

    def start(self) -> None:
        for group in self.groups:
            group.sample(at_start=True)
        self._started = time.monotonic()
        self._client_started = time.process_time()
        self._machine_started = machine_busy_seconds()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            for group in self.groups:
                group.sample(at_start=False)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for group in self.groups:
            group.sample(at_start=False)
        self.wall = time.monotonic() - self._started
        # This process is the clients (and this sampler, a small share).
        self.client_cpu = time.process_time() - self._client_started
        self.machine = machine_busy_seconds() - self._machine_started

    def report(self, requests_done: int) -> list[str]:
        rows = [(group.name, group.seconds) for group in self.groups]
        rows.append(("clients (this script)", self.client_cpu))
        ours = sum(seconds for _, seconds in rows)
        rows.append(("everything else on the machine", max(0.0, self.machine - ours)))
        lines = [
            f"\nCPU over the load phase ({self.wall:.1f} s, {os.cpu_count()} cores, "
            f"{requests_done} requests):",
            "| processes | CPU s | cores busy | CPU ms per request |",
            "|---|---|---|---|",
        ]
        for name, seconds in rows:
            per_request = seconds * 1000 / requests_done if requests_done else float("nan")
            lines.append(
                f"| {name} | {seconds:.1f} | {seconds / self.wall:.2f} | {per_request:.1f} |"
            )
        return lines


def postgres_backends(dsn: str, database: str) -> Callable[[], list[int]]:
    """The backends serving `database`, less the one asking (PostgreSQL runs as another user,
    so this reads their /proc entries as root or as postgres only)."""

    def pids() -> list[int]:
        with psycopg.connect(dsn, autocommit=True, application_name=SAMPLER) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name <> %s",
                (database, SAMPLER),
            ).fetchall()
        return [pid for (pid,) in rows]

    return pids


# --- what the backends were doing ------------------------------------------------------


class ActivitySampler:
    """Counts what the run's PostgreSQL backends were doing, every SAMPLE_EVERY / 2 seconds:
    active, idle in transaction, waiting for a lock (and on which statement)."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn, self.database = dsn, database
        self.samples = 0
        self.states: Counter[str] = Counter()
        self.lock_waits: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name=SAMPLER) as connection:
            while not self._stop.wait(SAMPLE_EVERY / 2):
                rows = connection.execute(
                    "SELECT state, wait_event_type, left(query, 60) FROM pg_stat_activity "
                    "WHERE datname = %s AND application_name <> %s AND backend_type = "
                    "'client backend'",
                    (self.database, SAMPLER),
                ).fetchall()
                self.samples += 1
                for state, wait_type, query in rows:
                    self.states[state or "unknown"] += 1
                    if wait_type == "Lock":
                        self.lock_waits[" ".join(query.split())] += 1

    def report(self) -> list[str]:
        if not self.samples:
            return []
        mean = ", ".join(
            f"{state} {count / self.samples:.2f}" for state, count in self.states.most_common()
        )
        lines = [f"\nPostgreSQL backends on average ({self.samples} samples): {mean}"]
        for query, count in self.lock_waits.most_common(3):
            lines.append(f"  waiting for a lock {count / self.samples:.2f}: {query}")
        return lines


# --- py-spy -----------------------------------------------------------------------------


def start_profile(master_pid: int, seconds: float, output: Path) -> subprocess.Popen:
    """py-spy on gunicorn's master and its workers, in collapsed-stack ("raw") form."""
    argv = [
        PY_SPY, "record", "--pid", str(master_pid), "--subprocesses", "--nonblocking",
        "--rate", str(PROFILE_RATE), "--duration", str(max(1, round(seconds))),
        "--format", "raw", "--output", str(output),
        # Only samples holding the GIL: waiting for PostgreSQL's answer is not CPU.
        "--gil",
    ]  # fmt: skip
    return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


# Where a sample's time goes: the area of the innermost frame that has one, so each sample
# counts once (a query run by a template tag is the database's, not the template's).
AREAS = {
    "login: PBKDF2 (deliberate)": ("pbkdf2 (",),
    "database: psycopg (round trips)": ("psycopg/",),
    "ORM: building queries and models": ("django/db/",),
    "logging (stdlib, structlog)": ("logging/__init__.py", "structlog/", "portal/logs.py"),
    "crispy forms": ("crispy_forms/", "crispy_bootstrap5/"),
    "template rendering": ("django/template/",),
    "sessions": ("django/contrib/sessions/",),
    "auth: user, groups, permissions": ("django/contrib/auth/", "rules/", "aliases/roles.py"),
    "axes": ("axes/",),
    "CSP": ("csp/",),
    "CSRF": ("django/middleware/csrf.py",),
    "messages": ("django/contrib/messages/",),
    "URL resolving and reversing": ("django/urls/",),
    "forms (validation, widgets)": ("django/forms/",),
    "audit writer": ("aliases/audit/",),
    "the portal's own code": ("aliases/",),
    "gunicorn: reading, writing, closing": ("gunicorn/",),
    "Django, other": ("django/",),
}
# What a request spends inside these callers, queries included (shares overlap).
CALLERS = {
    "template rendering (queries in tags included)": ("Template.render (django/template/",),
    "context processors": ("context_processors.py",),
    "crispy forms": ("crispy_forms/",),
    "audit writer": ("aliases/audit/",),
    "session load and save": ("django/contrib/sessions/",),
    "request.user (auth middleware's lazy user)": ("get_user (django/contrib/auth/",),
    "logging": ("Logger.handle (logging/__init__.py)",),
}
# Samples outside a request (a worker waiting in accept) are not CPU: py-spy skips idle ones.
REQUEST_FRAME = "BaseHandler.get_response ("


def frame_name(frame: str) -> str:
    # "render (django/template/base.py:1016)" -> "render (django/template/base.py)"
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def read_collapsed(collapsed: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            # py-spy names the processes first (master, worker): not frames.
            frames = [frame_name(f) for f in stack.split(";") if not f.startswith("process ")]
            stacks.append((frames, int(count)))
    return stacks


def summarise_profile(collapsed: Path, top: int = 20) -> list[str]:
    """The workers' samples by area, the busiest functions within a request, and self time."""
    stacks = read_collapsed(collapsed)
    total = sum(count for _, count in stacks)
    if not total:
        return ["\nprofile: no samples"]
    in_request = sum(count for frames, count in stacks if any(REQUEST_FRAME in f for f in frames))
    areas: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        areas[_area_of(frames)] += count
        for caller, markers in CALLERS.items():
            if any(marker in frame for frame in frames for marker in markers):
                callers[caller] += count
        for name in set(frames):
            inclusive[name] += count
        if frames:
            own[frames[-1]] += count
    share = functools.partial(_share, total=total)
    lines = [
        f"\nprofile of the gunicorn workers: {total} samples, {share(in_request)} in a request",
        "by area (of the innermost frame that has one):",
    ]
    lines += [f"  {share(count)}  {area}" for area, count in areas.most_common()]
    lines.append("inside these callers (queries included; shares overlap):")
    lines += [f"  {share(count)}  {caller}" for caller, count in callers.most_common()]
    # Wrappers every request passes through (gunicorn, the middleware chain) tell nothing.
    below = [(n, c) for n, c in inclusive.most_common() if c < 0.8 * in_request]
    lines.append(f"busiest functions, inclusive, top {top}:")
    lines += [f"  {share(count)}  {name}" for name, count in below[:top]]
    lines.append(f"self time, top {top}:")
    lines += [f"  {share(count)}  {name}" for name, count in own.most_common(top)]
    return lines


def _area_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for area, markers in AREAS.items():
            if any(marker in frame for marker in markers):
                return area
    return "other (Python itself)"


def _share(count: int, *, total: int) -> str:
    return f"{count * 100 / total:5.1f}%"
