"""A bounded load test: the real user journey over HTTP against gunicorn and PostgreSQL.

Sets up a throw-away PostgreSQL database, the VICIdial simulator, gunicorn and two task
workers (`manage.py portal_worker`, which make the VICIdial calls that approvals queue) on
127.0.0.1, runs submitter and approver clients until the deadline, waits for the workers to
empty the queue, checks the database for lost or stuck requests, prints a report and tears
everything down. `make bench` runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import math
import os
import queue
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_cpu import (  # noqa: E402 - after the path is set
    ActivitySampler,
    CpuSampler,
    Group,
    postgres_backends,
    start_profile,
    summarise_profile,
    tree_pids,
)

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
HOST = "127.0.0.1"
PG_SERVER = f"postgresql://postgres@{HOST}:5432"
DB_NAME = "portal_bench"
THREADS = 1
TASK_WORKERS = 2
HTTP_TIMEOUT = (5, 30)  # (connect, read) seconds for every client call
STARTUP_TIMEOUT = 30.0
SHUTDOWN_GRACE = 35.0  # a little over gunicorn's 30 s graceful timeout
# How long the workers get, once the clients stop, to make the calls still queued.
DRAIN_TIMEOUT = 120.0
DRAIN_POLL = 0.1
SUBMITTERS = ("supervisor", "supervisor2")
APPROVERS = ("admin", "admin2")
# The simulator's demo phones (aliases/simulator.py DEMO_PHONES).
PHONES = ("cc100", "bb100", "1001", "1002", "1003", "1004", "2001", "2002")
# Share of approvals an approver also hands to a colleague, so two admins race for one id.
RACE_SHARE = 0.1
FINAL = ("succeeded", "failed", "rejected", "cancelled")
EXPLICIT = ("pending", "needs_verification")
# Approved, the call not yet recorded: waiting for a worker, or being made.
IN_FLIGHT = ("queued", "calling")
CALLED_VICIDIAL = ("calling", "succeeded", "failed", "needs_verification")
EXAMPLES_KEPT = 5

DETAIL_PATH = re.compile(r"/requests/(\d+)/")
INPUT_TAG = re.compile(r"<input\b[^>]*>")
ALERT = re.compile(r'role="alert">(.*?)</div>', re.S)


# --- measuring --------------------------------------------------------------------------


@dataclass
class OpStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    # Timeouts and refused connections: errors with no response, hence no latency.
    errors_without_response: int = 0
    unexpected: int = 0

    @property
    def count(self) -> int:
        return len(self.latencies_ms) + self.errors_without_response


class Recorder:
    """Thread-safe tallies per operation, plus a few examples of what went wrong."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ops: dict[str, OpStats] = {}
        self.examples: list[str] = []
        self.outcomes: Counter[str] = Counter()
        self.submitted_ids: list[int] = []
        self.logins_finished = 0
        self._logged_in = threading.Condition(self._lock)

    def _op(self, name: str) -> OpStats:
        return self.ops.setdefault(name, OpStats())

    def response(self, op: str, ms: float, *, error: str = "", unexpected: str = "") -> None:
        with self._lock:
            stats = self._op(op)
            stats.latencies_ms.append(ms)
            if error:
                stats.errors += 1
            if unexpected:
                stats.unexpected += 1
            self._example(error or unexpected)

    def no_response(self, op: str, error: str) -> None:
        with self._lock:
            stats = self._op(op)
            stats.errors += 1
            stats.errors_without_response += 1
            self._example(error)

    def unexpected(self, op: str, what: str) -> None:
        with self._lock:
            self._op(op).unexpected += 1
            self._example(what)

    def outcome(self, name: str) -> None:
        with self._lock:
            self.outcomes[name] += 1

    def submitted(self, request_id: int) -> None:
        with self._lock:
            self.submitted_ids.append(request_id)

    def login_finished(self) -> None:
        with self._lock:
            self.logins_finished += 1
            self._logged_in.notify_all()

    def wait_for_logins(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._logged_in.wait_for(lambda: self.logins_finished >= count, timeout)

    def requests_done(self) -> int:
        with self._lock:
            return sum(stats.count for stats in self.ops.values())

    def _example(self, text: str) -> None:
        if text and len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(text)


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


# --- the clients ------------------------------------------------------------------------


def hidden_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in INPUT_TAG.findall(html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value and 'type="hidden"' in tag:
            fields[name[1]] = value[1]
    return fields


@dataclass
class Client:
    """One browser: its own session, user and deadline."""

    base_url: str
    username: str
    deadline: float
    stop: threading.Event
    recorder: Recorder
    session: requests.Session = field(default_factory=requests.Session)

    def has_time(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def call(
        self, op: str, method: str, path: str, *, expect: int, data: dict[str, str] | None = None
    ) -> requests.Response | None:
        """One timed request; redirects are not followed, so each hop is measured by itself."""
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, self.base_url + path, data=data, timeout=HTTP_TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as error:
            self.recorder.no_response(op, f"{op}: {method} {path}: {type(error).__name__}")
            return None
        ms = (time.perf_counter() - started) * 1000
        where = f"{op} as {self.username}: {method} {path} -> HTTP {response.status_code}"
        if response.status_code >= 500:
            self.recorder.response(op, ms, error=where)
            return None
        if response.status_code != expect:
            self.recorder.response(op, ms, unexpected=f"{where} (expected {expect})")
            return None
        self.recorder.response(op, ms)
        return response

    def csrf_token(self, html: str) -> str:
        # A stale page (the request was decided meanwhile) has no form; the cookie still works.
        return hidden_fields(html).get("csrfmiddlewaretoken") or self.session.cookies.get(
            "csrftoken", ""
        )

    def log_in(self) -> bool:
        try:
            return self._log_in()
        finally:
            self.recorder.login_finished()

    def _log_in(self) -> bool:
        page = self.call("view login", "GET", "/accounts/login/", expect=200)
        if page is None:
            return False
        form = {
            "csrfmiddlewaretoken": self.csrf_token(page.text),
            "username": self.username,
            "password": f"{self.username}-demo",
        }
        done = self.call("login", "POST", "/accounts/login/", data=form, expect=302)
        return done is not None and self.call("view home", "GET", "/", expect=200) is not None


def pause_after_failure() -> None:
    # Keeps a dead server from turning into a tight loop of thousands of identical errors.
    time.sleep(0.2)


def run_submitter(client: Client, number: int, pending: queue.Queue[int]) -> None:
    if not client.log_in():
        return
    for sequence in itertools.count():
        if not client.has_time():
            return
        if not submit_one(client, f"bench{number:02d}_{sequence:05d}", pending):
            pause_after_failure()
        elif sequence % 5 == 4:
            client.call("view list", "GET", "/requests/", expect=200)


def submit_one(client: Client, alias_id: str, pending: queue.Queue[int]) -> bool:
    page = client.call("view form", "GET", "/requests/new/", expect=200)
    if page is None:
        return False
    form = hidden_fields(page.text) | {
        "alias_id": alias_id,
        "alias_name": f"Bench {alias_id}",
        "phone_logins": ", ".join(random.sample(PHONES, k=random.randint(1, 3))),
        "justification": "Load test",
    }
    done = client.call("submit", "POST", "/requests/new/", data=form, expect=302)
    if done is None:
        return False
    location = done.headers.get("Location", "")
    match = DETAIL_PATH.fullmatch(location)
    if match is None:
        client.recorder.unexpected("submit", f"submit {alias_id}: redirected to {location!r}")
        return False
    client.recorder.submitted(int(match[1]))
    pending.put(int(match[1]))
    return client.call("view detail", "GET", location, expect=200) is not None


def run_approver(client: Client, pending: queue.Queue[int]) -> None:
    if not client.log_in():
        return
    for number in itertools.count(1):
        request_id = next_pending(client, pending)
        if request_id is None:
            return
        if random.random() < RACE_SHARE:
            pending.put(request_id)  # a colleague clicks Approve on the same request
        if not approve_one(client, request_id):
            pause_after_failure()
        elif number % 5 == 0:
            client.call("view home", "GET", "/", expect=200)


def next_pending(client: Client, pending: queue.Queue[int]) -> int | None:
    while client.has_time():
        try:
            return pending.get(timeout=min(0.5, max(0.01, client.deadline - time.monotonic())))
        except queue.Empty:
            continue
    return None


def approve_one(client: Client, request_id: int) -> bool:
    path = f"/requests/{request_id}/"
    page = client.call("view detail", "GET", path, expect=200)
    if page is None:
        return False
    form = {"csrfmiddlewaretoken": client.csrf_token(page.text), "note": ""}
    if client.call("approve", "POST", f"{path}approve/", data=form, expect=302) is None:
        return False
    result = client.call("view detail", "GET", path, expect=200)
    if result is None:
        return False
    client.recorder.outcome(approval_outcome(result.text))
    return True


def approval_outcome(html: str) -> str:
    """What the admin was told after Approve: queued for a worker (or, where a task ran at
    once, the result), or that someone else was first."""
    for text in ALERT.findall(html):
        text = text.strip()
        if text.startswith("Approved. Result: "):
            return "approved: " + text.removeprefix("Approved. Result: ").rstrip(".")
        if text.startswith("Approved. VICIdial is being called"):
            return "approved: queued for a worker"
        if text.startswith("Approved. The call waits"):
            return "approved: the call waits (calls stopped or batch paused)"
        if "Nothing was changed" in text:
            return "race lost (already decided or in flight)"
    return "approve: no outcome message"


def run_clients(
    base_url: str, clients: int, seconds: float, ramp: float, recorder: Recorder
) -> float:
    """Run the clients until the deadline; returns the wall time the load phase took."""
    pending: queue.Queue[int] = queue.Queue()
    stop = threading.Event()
    started = time.monotonic()
    deadline = started + seconds
    threads = []
    for number in range(clients):
        # Alternating roles, so submitters and approvers ramp up together.
        if number % 2 == 0:
            user = SUBMITTERS[number // 2 % len(SUBMITTERS)]
            client = Client(base_url, user, deadline, stop, recorder)
            work = functools.partial(run_submitter, client, number, pending)
        else:
            user = APPROVERS[number // 2 % len(APPROVERS)]
            client = Client(base_url, user, deadline, stop, recorder)
            work = functools.partial(run_approver, client, pending)
        delay = ramp * number / clients
        threads.append(threading.Thread(target=start_later, args=(delay, stop, work), daemon=True))
    try:
        for thread in threads:
            thread.start()
        # Work in flight at the deadline may still take one HTTP timeout per hop.
        join_by = deadline + 4 * sum(HTTP_TIMEOUT)
        for thread in threads:
            thread.join(timeout=max(0.0, join_by - time.monotonic()))
    finally:
        stop.set()
    return time.monotonic() - started


def start_later(delay: float, stop: threading.Event, work: Callable[[], None]) -> None:
    # Each login costs about 0.4 s of CPU (PBKDF2); all at once they would starve the rest.
    if not stop.wait(delay):
        work()


class SteadyState:
    """Measures from the last login to the end of the load: throughput, CPU per request and
    the profile. A login costs about 0.4 s of CPU on purpose (PBKDF2); counted in, a short
    run would show mostly the logins and hide what a page costs."""

    def __init__(
        self,
        recorder: Recorder,
        clients: int,
        cpu: CpuSampler,
        activity: ActivitySampler,
        profile: tuple[int, Path] | None,
    ) -> None:
        self.recorder, self.clients = recorder, clients
        self.cpu, self.activity, self.profile = cpu, activity, profile
        self.started: float | None = None
        self.requests = 0
        self.seconds = 0.0
        self._profiler: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._start_after_logins, daemon=True)

    def start(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds
        self._thread.start()

    def _start_after_logins(self) -> None:
        if not self.recorder.wait_for_logins(self.clients, self._deadline - time.monotonic()):
            return
        self.started = time.monotonic()
        self._requests_before = self.recorder.requests_done()
        if self.profile:
            pid, output = self.profile
            self._profiler = start_profile(pid, self._deadline - self.started, output)
        self.cpu.start()
        self.activity.start()

    def stop(self) -> None:
        self._thread.join()
        if self.started is None:
            return
        self.cpu.stop()
        self.activity.stop()
        self.seconds = time.monotonic() - self.started
        self.requests = self.recorder.requests_done() - self._requests_before
        if self._profiler is not None:
            _, errors = self._profiler.communicate(timeout=STARTUP_TIMEOUT)
            if self._profiler.returncode != 0:
                print(f"py-spy failed: {errors.strip()[-500:]}", flush=True)

    def report(self) -> list[str]:
        if self.started is None:
            return ["\nsteady state: never reached (some clients were still logging in)"]
        lines = [
            f"\nsteady state (after the last login): {self.requests} requests in "
            f"{self.seconds:.1f} s, {self.requests / self.seconds:.1f} req/s"
        ]
        lines += self.cpu.report(self.requests)
        lines += self.activity.report()
        if self.profile and self._profiler is not None and self._profiler.returncode == 0:
            lines += summarise_profile(self.profile[1])
        return lines


# --- the servers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def portal_env(static_root: Path, simulator_port: int, database: str) -> dict[str, str]:
    """Production-like settings; the secrets are fresh per run and never printed."""
    return os.environ | {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_STATIC_ROOT": str(static_root),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"{PG_SERVER}/{database}",
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "AXES_FAILURE_LIMIT": "1000000",
        "VICIDIAL_API_URL": f"http://{HOST}:{simulator_port}/vicidial/non_agent_api.php",
        "VICIDIAL_API_USER": "6666",
        "VICIDIAL_API_PASS": secrets.token_urlsafe(18),
        "AUDIT_HMAC_KEYS": "bench:" + secrets.token_urlsafe(32),
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        # The workers send the requesters' and admins' emails too: kept in memory, not sent.
        "EMAIL_URL": "memorymail://",
        "PYTHONUNBUFFERED": "1",  # the simulator's log is read to count its calls
    }


def manage(env: dict[str, str], *args: str) -> str:
    # Fixed argv, no shell: nothing here comes from outside this script.
    done = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def recreate_database(database: str) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {database}")


def drop_database(database: str) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


class Service:
    """A server in its own process group: Ctrl-C reaches this script, which stops it in order."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def wait_until(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if ready():
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {STARTUP_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self, sig: signal.Signals) -> None:
        if self.process.poll() is not None:
            return
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=SHUTDOWN_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=SHUTDOWN_GRACE)
        took = time.monotonic() - started
        if took > 5:
            print(f"{self.name} took {took:.0f} s to stop", flush=True)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_simulator(env: dict[str, str], port: int, log: Path) -> Service:
    argv = [PYTHON, "manage.py", "vicidial_simulator", "--port", str(port)]
    simulator = Service("VICIdial simulator", argv, env, log)
    url = f"http://{HOST}:{port}/vicidial/non_agent_api.php?function=version"
    simulator.wait_until(lambda: requests.get(url, timeout=1).status_code == 200)
    return simulator


def start_gunicorn(
    env: dict[str, str], port: int, log: Path, workers: int | None, threads: int
) -> Service:
    # The deployed configuration (its JSON access log included), less what the run sets.
    argv = [
        GUNICORN, "--config", str(ROOT / "gunicorn.conf.py"), "portal.wsgi:application",
        "--bind", f"{HOST}:{port}", "--threads", str(threads), "--timeout", "60",
    ]  # fmt: skip
    if workers is not None:
        argv += ["--workers", str(workers)]
    portal = Service("gunicorn", argv, env, log)
    url = f"http://{HOST}:{port}/accounts/login/"
    portal.wait_until(lambda: requests.get(url, timeout=1).status_code == 200)
    return portal


def start_task_workers(env: dict[str, str], workdir: Path, workers: list[Service]) -> None:
    """Start TASK_WORKERS workers into `workers` (the caller stops them, even if one of them
    fails to start) and wait until each has written its first heartbeat."""
    argv = [PYTHON, "manage.py", "portal_worker", "--no-startup-delay"]
    for number in range(1, TASK_WORKERS + 1):
        log = workdir / f"worker{number}.log"
        workers.append(Service(f"task worker {number}", argv, env, log))
    for worker in workers:
        worker.wait_until(functools.partial(worker_beats, env["DATABASE_URL"], worker.process.pid))


def worker_beats(dsn: str, pid: int) -> bool:
    with psycopg.connect(dsn) as connection:
        query = "SELECT 1 FROM aliases_workerheartbeat WHERE pid = %s"
        return connection.execute(query, (pid,)).fetchone() is not None


def requests_in_flight(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        query = "SELECT count(*) FROM aliases_aliasrequest WHERE status = ANY(%s)"
        return connection.execute(query, (list(IN_FLIGHT),)).fetchone()[0]


def wait_for_queue(dsn: str, since: float) -> float | None:
    """Seconds from `since` until no request is queued or calling; None if some still were
    after DRAIN_TIMEOUT (the checks then report them as stuck)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        if requests_in_flight(dsn) == 0:
            return time.monotonic() - since
        time.sleep(DRAIN_POLL)
    return None


# What a task worker logs, as a warning, when it is stopped as the run ends.
WORKER_STOPPING = "shutting down gracefully"


# --- checking ---------------------------------------------------------------------------


@dataclass
class DatabaseCheck:
    status_counts: dict[str, int]
    lost: list[int]
    stuck: list[int]
    requests_that_called: int
    calls: int
    calls_in_flight: int
    requests_with_calls: int
    # Approval to recorded outcome less VICIdial's own answer time, per request that called.
    outcome_after_ms: list[float]


def check_database(dsn: str, submitted_ids: list[int]) -> DatabaseCheck:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT id, status FROM aliases_aliasrequest ORDER BY id"
        ).fetchall()
        calls, in_flight, distinct = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE result = 'in_flight'), "
            "count(DISTINCT request_id) FROM aliases_vicidialcall"
        ).fetchone()
        outcome_after = connection.execute(
            "SELECT EXTRACT(EPOCH FROM r.completed_at - r.decided_at) * 1000 "
            "- sum(coalesce(c.duration_ms, 0)) "
            "FROM aliases_aliasrequest r JOIN aliases_vicidialcall c ON c.request_id = r.id "
            "WHERE r.completed_at IS NOT NULL AND r.decided_at IS NOT NULL GROUP BY r.id"
        ).fetchall()
    status_of = dict(rows)
    return DatabaseCheck(
        status_counts=dict(Counter(status_of.values())),
        lost=[pk for pk in submitted_ids if pk not in status_of],
        stuck=[pk for pk, status in rows if status not in FINAL + EXPLICIT],
        requests_that_called=sum(status in CALLED_VICIDIAL for status in status_of.values()),
        calls=calls,
        calls_in_flight=in_flight,
        requests_with_calls=distinct,
        outcome_after_ms=sorted(float(value) for (value,) in outcome_after),
    )


def simulator_calls(log: Path) -> int:
    # The simulator logs one line per answer: "POST add_phone_alias -> 200 SUCCESS: ...".
    return sum(" add_phone_alias -> " in line for line in log.read_text().splitlines())


def verify_audit(env: dict[str, str]) -> str:
    try:
        return manage(env, "verify_audit").strip()
    except RuntimeError as failure:
        return f"BROKEN: {failure}"


def server_problems(log: Path) -> list[str]:
    markers = ("Traceback", " ERROR ", " WARNING ", "WORKER TIMEOUT", "[CRITICAL]")
    # With DEBUG off the servers log JSON lines (portal/logs.py).
    markers += tuple(f'"level": "{level}"' for level in ("warning", "error", "critical"))
    return [
        line
        for line in log.read_text().splitlines()
        if any(m in line for m in markers) and WORKER_STOPPING not in line
    ]


# --- reporting --------------------------------------------------------------------------


def print_table(recorder: Recorder, elapsed: float) -> None:
    header = ("operation", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
    print("| " + " | ".join(header) + " | unexpected |")
    print("|" + "---|" * (len(header) + 1))
    everything = OpStats()
    for name in sorted(recorder.ops, key=op_order):
        stats = recorder.ops[name]
        print_row(name, stats, elapsed)
        everything.latencies_ms += stats.latencies_ms
        everything.errors += stats.errors
        everything.errors_without_response += stats.errors_without_response
        everything.unexpected += stats.unexpected
    print_row("all", everything, elapsed)


def op_order(name: str) -> tuple[bool, str]:
    return name.startswith("view"), name


def print_row(name: str, stats: OpStats, elapsed: float) -> None:
    ordered = sorted(stats.latencies_ms)
    figures = [percentile(ordered, share) for share in (0.50, 0.95, 0.99)]
    cells = [
        name,
        str(stats.count),
        f"{stats.count / elapsed:.1f}",
        *(f"{value:.0f}" for value in figures),
        f"{ordered[-1]:.0f}" if ordered else "-",
        str(stats.errors),
        str(stats.unexpected),
    ]
    print("| " + " | ".join(cells) + " |")


def print_checks(recorder: Recorder, db: DatabaseCheck, simulated: int, audit: str) -> None:
    print(f"\nsubmitted (302 to /requests/<id>/): {len(recorder.submitted_ids)}")
    for outcome, count in sorted(recorder.outcomes.items()):
        print(f"{outcome}: {count}")
    statuses = ", ".join(f"{status} {count}" for status, count in sorted(db.status_counts.items()))
    print(f"requests in the database by status: {statuses or 'none'}")
    print(f"LOST (submitted, not in the database): {counted(db.lost)}")
    print(f"stuck (queued, calling or unknown status at the end): {counted(db.stuck)}")
    print(
        f"VICIdial calls: simulator {simulated}, VicidialCall rows {db.calls} "
        f"({db.calls_in_flight} in flight, {db.requests_with_calls} requests), "
        f"requests that called {db.requests_that_called}"
    )
    print(f"audit chain: {audit}")


def print_queue(drained_after: float | None, db: DatabaseCheck) -> None:
    drained = f"{drained_after:.1f} s" if drained_after is not None else "not within the limit"
    print(f"\nqueue empty (nothing queued or calling) after the clients stopped: {drained}")
    ordered = db.outcome_after_ms
    if ordered:
        figures = " / ".join(f"{percentile(ordered, share):.0f}" for share in (0.5, 0.95))
        print(
            f"approval to recorded outcome, less VICIdial's answer time, p50 / p95 / max: "
            f"{figures} / {ordered[-1]:.0f} ms ({len(ordered)} requests)"
        )


def counted(ids: list[int]) -> str:
    return f"{len(ids)} (ids {ids[:10]})" if ids else "0"


def problems_found(recorder: Recorder, db: DatabaseCheck, simulated: int, audit: str) -> list[str]:
    errors = sum(stats.errors for stats in recorder.ops.values())
    unexpected = sum(stats.unexpected for stats in recorder.ops.values())
    checks = {
        f"{errors} errors": errors > 0,
        f"{len(db.lost)} lost requests": bool(db.lost),
        f"{unexpected} unexpected responses": unexpected > 0,
        f"{len(db.stuck)} requests stuck (queued or calling VICIdial)": bool(db.stuck),
        f"{db.calls_in_flight} VICIdial calls still in flight": db.calls_in_flight > 0,
        "VICIdial calls do not match approvals one to one": not (
            simulated == db.calls == db.requests_with_calls == db.requests_that_called
        ),
        "audit chain does not verify": not audit.startswith("OK"),
    }
    return [problem for problem, found in checks.items() if found]


# --- the run ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (>= 2)")
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration")
    parser.add_argument(
        "--ramp",
        type=float,
        help="seconds over which the clients start and log in (default: a sixth, at most 10)",
    )
    parser.add_argument("--db", default=DB_NAME, help=f"scratch database (default {DB_NAME})")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--gunicorn-workers",
        type=int,
        help="default: gunicorn.conf.py's (GUNICORN_WORKERS, else 2 x cores + 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help=f"threads per gunicorn worker, above 1 its gthread worker (default {THREADS})",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="py-spy the gunicorn workers during the load, collapsed stacks to FILE",
    )
    args = parser.parse_args(argv)
    if args.ramp is None:
        args.ramp = min(10.0, args.seconds / 6)
    if args.clients < 2 or not 0 <= args.ramp < args.seconds:
        parser.error("needs at least 2 clients (a submitter and an approver), 0 <= ramp < seconds")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.db):
        parser.error("--db: a plain lower-case database name")
    return args


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"{name} ...", flush=True)
    yield
    print(f"{name}: {time.monotonic() - started:.1f} s", flush=True)


def run(args: argparse.Namespace, workdir: Path) -> int:
    simulator_port, portal_port = free_port(), free_port()
    env = portal_env(workdir / "static", simulator_port, args.db)
    dsn = env["DATABASE_URL"]
    simulator_log, portal_log = workdir / "simulator.log", workdir / "gunicorn.log"
    workers: list[Service] = []
    with contextlib.ExitStack() as cleanup:
        with phase(f"setup: database {args.db}, collectstatic, migrate, demo users, servers"):
            recreate_database(args.db)
            if not args.keep_db:
                cleanup.callback(drop_database, args.db)
            # First, as in the Dockerfile: with DEBUG off, any static URL needs the manifest.
            manage(env, "collectstatic", "--noinput")
            manage(env, "migrate", "--noinput")
            manage(env, "seed_demo", "--force")
            simulator = start_simulator(env, simulator_port, simulator_log)
            cleanup.callback(simulator.stop, signal.SIGINT)
            # Stopped (in reverse) gunicorn first, then the workers, then the simulator.
            cleanup.callback(lambda: [worker.stop(signal.SIGTERM) for worker in workers])
            start_task_workers(env, workdir, workers)
            portal = start_gunicorn(
                env, portal_port, portal_log, args.gunicorn_workers, args.threads
            )
            cleanup.callback(portal.stop, signal.SIGTERM)

        recorder = Recorder()
        cpu = CpuSampler(
            [
                Group("gunicorn", functools.partial(tree_pids, portal.process.pid)),
                Group("PostgreSQL (this database)", postgres_backends(dsn, args.db)),
                Group("task workers", lambda: [worker.process.pid for worker in workers]),
                Group("VICIdial simulator", lambda: [simulator.process.pid]),
            ]
        )
        profile = (portal.process.pid, args.profile) if args.profile else None
        steady = SteadyState(recorder, args.clients, cpu, ActivitySampler(dsn, args.db), profile)
        with phase(f"load: {args.clients} clients for {args.seconds:g} s"):
            base_url = f"http://{HOST}:{portal_port}"
            steady.start(args.seconds)
            elapsed = run_clients(base_url, args.clients, args.seconds, args.ramp, recorder)
            clients_stopped = time.monotonic()
            steady.stop()

        with phase("queue: the workers make the calls still queued"):
            drained_after = wait_for_queue(dsn, clients_stopped)
            # Stopping gunicorn gracefully lets an approval still in flight (a client that
            # gave up waiting) commit; the workers then call it too.
            portal.stop(signal.SIGTERM)
            if drained_after is not None:
                wait_for_queue(dsn, time.monotonic())

        with phase("checks"):
            # SIGTERM: a worker finishes and records the call it is making, then exits.
            for worker in workers:
                worker.stop(signal.SIGTERM)
            simulator.stop(signal.SIGINT)
            db = check_database(dsn, recorder.submitted_ids)
            simulated = simulator_calls(simulator_log)
            audit = verify_audit(env)
            noisy = [
                line
                for log in (portal_log, *(worker.log for worker in workers))
                for line in server_problems(log)
            ]

    kind = f"gthread workers x {args.threads} threads" if args.threads > 1 else "sync workers"
    print(
        f"\n{args.clients} clients (started over {round(args.ramp, 1):g} s), {elapsed:.1f} s, "
        f"gunicorn {args.gunicorn_workers or 'gunicorn.conf.py default'} {kind}, "
        f"{TASK_WORKERS} task workers\n"
    )
    print_table(recorder, elapsed)
    print(*steady.report(), sep="\n")
    print_checks(recorder, db, simulated, audit)
    print_queue(drained_after, db)
    if recorder.examples:
        print("\nfirst problems seen by clients:", *recorder.examples, sep="\n  ")
    if noisy:
        print(f"\nserver logs: {len(noisy)} warning/error lines, first:", *noisy[:5], sep="\n  ")
    problems = problems_found(recorder, db, simulated, audit)
    print("\nFAILED: " + "; ".join(problems) if problems else "\nOK")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    # Started in the background, this process may inherit SIGINT ignored, and so would the
    # servers (an ignored signal survives exec): the simulator would then never stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="portal-bench-") as workdir:
            return run(args, Path(workdir))
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        print(f"total run time: {time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
