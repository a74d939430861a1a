"""Real task workers for the tests: `manage.py portal_worker` processes on the test's own
PostgreSQL database, and a way to wait for what they do.

A worker is another process, so it sees only committed rows: tests that use it take
`transactional_db`. It runs portal/settings_test.py with PORTAL_TEST_CHILD=1, which keeps the
secrets, the VICIdial address and the limits this process passes, so the worker signs the
same audit chain and calls the same simulator as the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from aliases.models import WorkerHeartbeat

ROOT = Path(__file__).resolve().parent.parent
DB_BACKEND = "django_tasks_db.DatabaseBackend"
DB_TASKS = {"default": {"BACKEND": DB_BACKEND, "QUEUES": ["default"]}}
# Django's start-up, the system checks and the first heartbeat; several workers start at once.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_SECONDS = 0.05
# The settings a worker takes from this process rather than settings_test's own.
PASSED_SETTINGS = (
    "SECRET_KEY",
    "AUDIT_HMAC_KEYS",
    "AUDIT_HMAC_KEY_ID",
    "VICIDIAL_API_URL",
    "VICIDIAL_API_USER",
    "VICIDIAL_API_PASS",
    "VICIDIAL_MAX_IN_FLIGHT",
    "VICIDIAL_CALLS_PER_SECOND",
)

T = TypeVar("T")


def wait_for(check: Callable[[], T], *, timeout: float, what: str) -> T:
    """Poll `check` until it returns something truthy, and return that; fail after `timeout`
    seconds saying what never happened."""
    give_up_at = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= give_up_at:
            pytest.fail(f"after {timeout:g} s, still waiting for {what}")
        time.sleep(POLL_SECONDS)


def database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("a worker process needs the test's PostgreSQL database")
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def worker_environment() -> dict[str, str]:
    env = {
        **os.environ,
        "PORTAL_TEST_CHILD": "1",
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "DATABASE_URL": database_url(),
        "TASKS_BACKEND": DB_BACKEND,
        "PYTHONUNBUFFERED": "1",
    }
    for name in PASSED_SETTINGS:
        env[name] = str(getattr(django_settings, name))
    return env


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """SIGTERM (a running call finishes first), then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()


class Workers:
    """Starts workers on demand; the fixture stops every one at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Worker] = []

    def start(self, count: int = 1, *args: str) -> list[Worker]:
        """Start `count` workers and wait until each has sent its first heartbeat (it then
        takes tasks). The environment is built now, from the settings as the test left them."""
        env = worker_environment()
        new = []
        for _ in range(count):
            log = self.logs / f"worker-{len(self.started) + 1}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
                    [sys.executable, "manage.py", "portal_worker", "--no-startup-delay", *args],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl+C at the terminal is the fixture's to pass
                )
            worker = Worker(process, log)
            self.started.append(worker)
            new.append(worker)
        for worker in new:
            wait_for(
                lambda worker=worker: self._ready(worker),
                timeout=START_TIMEOUT,
                what=f"worker {worker.pid} to start",
            )
        return new

    def _ready(self, worker: Worker) -> bool:
        if worker.process.poll() is not None:
            pytest.fail(f"worker {worker.pid} exited at start:\n{worker.output()}")
        return WorkerHeartbeat.objects.filter(pid=worker.pid).exists()

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.terminate()
        for worker in self.started:
            worker.stop()


@pytest.fixture
def workers(transactional_db, settings, tmp_path) -> Iterator[Workers]:
    """Real `portal_worker` processes on the database queue, which this test's approvals now
    enqueue into (the TASKS change resets django-tasks' backends)."""
    settings.TASKS = DB_TASKS
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
