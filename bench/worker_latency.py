"""How long an approval waits for the task worker: from the approve click to the recorded
outcome, less the time VICIdial itself took to answer (VicidialCall.duration_ms).

A throw-away PostgreSQL database, the VICIdial simulator on loopback, and one real
`manage.py portal_worker` process. The approvals go one at a time through the approval
service (what the Approve button's view calls), each waiting for its outcome before the
next, so the figure is the worker's own delay (its poll interval, picking the task, the
row locks and the audit records), not a queue's.

    .venv/bin/python bench/worker_latency.py                 # 100 approvals
    .venv/bin/python bench/worker_latency.py -n 50 --vicidial-ms 150
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PG_SERVER = f"postgresql://postgres@{HOST}:5432"
DB_NAME = "portal_bench_worker"
START_TIMEOUT = 30.0
OUTCOME_TIMEOUT = 30.0
POLL_SECONDS = 0.002
PHONES = ("cc100", "bb100", "1001", "1002", "1003", "1004", "2001", "2002")

sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def configure(simulator_port: int, calls_per_second: float) -> None:
    """Production settings (DEBUG off) with fresh secrets, for this process and the worker."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
            "VICIDIAL_API_URL": f"http://{HOST}:{simulator_port}/vicidial/non_agent_api.php",
            "VICIDIAL_API_USER": "6666",
            "VICIDIAL_API_PASS": secrets.token_urlsafe(18),
            "AUDIT_HMAC_KEYS": "bench:" + secrets.token_urlsafe(32),
            "VICIDIAL_CALLS_PER_SECOND": str(calls_per_second),
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "EMAIL_URL": "memorymail://",
            "PYTHONUNBUFFERED": "1",
        }
    )


@contextlib.contextmanager
def throwaway_database() -> Iterator[None]:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DB_NAME}")
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def make_users():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from aliases.roles import Role

    users = {}
    for name, role in (("supervisor", Role.SUPERVISOR), ("admin", Role.ADMIN)):
        user = get_user_model().objects.create_user(name, password=secrets.token_urlsafe(12))
        user.groups.set(Group.objects.filter(name=role.value))
        users[name] = user
    return users


@contextlib.contextmanager
def worker_process(log: Path) -> Iterator[subprocess.Popen]:
    from aliases.models import WorkerHeartbeat

    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "manage.py", "portal_worker", "--no-startup-delay"],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        give_up_at = time.monotonic() + START_TIMEOUT
        while not WorkerHeartbeat.objects.filter(pid=process.pid).exists():
            if process.poll() is not None or time.monotonic() > give_up_at:
                raise RuntimeError(f"the worker did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def approve_and_wait(request_id: int, admin, think: float) -> tuple[float, ...]:
    """(the click's own response, click to recorded outcome, VICIdial's answer, the task's
    wait to be picked up), in ms."""
    from django_tasks_db.models import DBTaskResult

    from aliases.models import AliasRequest, VicidialCall
    from aliases.services import alias_request_approve
    from aliases.tasks import call_vicidial

    # A person's click comes at any moment of the worker's poll cycle, not right after the
    # previous outcome (which would always land at the same point of it).
    time.sleep(random.uniform(0, think))  # noqa: S311 - not for security
    clicked = time.time()
    alias_request_approve(request_id=request_id, actor=admin)
    answered = time.time()
    give_up_at = time.monotonic() + OUTCOME_TIMEOUT
    while True:
        done = AliasRequest.objects.filter(pk=request_id, completed_at__isnull=False)
        completed_at = done.values_list("completed_at", flat=True).first()
        if completed_at is not None:
            break
        if time.monotonic() > give_up_at:
            raise RuntimeError(f"request {request_id} has no outcome after {OUTCOME_TIMEOUT} s")
        time.sleep(POLL_SECONDS)
    call = VicidialCall.objects.get(request_id=request_id)
    task = DBTaskResult.objects.get(
        task_path=call_vicidial.module_path, args_kwargs__args=[request_id]
    )
    return (
        (answered - clicked) * 1000,
        (completed_at.timestamp() - clicked) * 1000,
        float(call.duration_ms or 0),
        (task.started_at - task.enqueued_at).total_seconds() * 1000,
    )


def run(args: argparse.Namespace, workdir: Path) -> int:
    simulator_port = free_port()
    configure(simulator_port, args.calls_per_second)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from aliases.models import AliasRequest
    from aliases.services import alias_request_submit
    from aliases.simulator import VicidialSimulator, demo_state
    from aliases.simulator.state import Fault

    with throwaway_database():
        call_command("migrate", verbosity=0)
        users = make_users()
        state = demo_state(user=settings.VICIDIAL_API_USER, password=settings.VICIDIAL_API_PASS)
        if args.vicidial_ms:
            state.inject(Fault(delay=args.vicidial_ms / 1000, times=None))
        simulator = VicidialSimulator(state).start(HOST, simulator_port)
        try:
            requests = [
                alias_request_submit(
                    requester=users["supervisor"],
                    alias_id=f"bench{number}",
                    alias_name=f"Bench {number}",
                    phone_logins=PHONES[number % len(PHONES)],
                    justification="Measuring the task worker.",
                )
                for number in range(args.count + args.warm_up)
            ]
            with worker_process(workdir / "worker.log"):
                think = args.think_ms / 1000
                rows = [approve_and_wait(r.pk, users["admin"], think) for r in requests]
        finally:
            simulator.stop()
        statuses = set(AliasRequest.objects.values_list("status", flat=True))
    rows = rows[args.warm_up :]
    clicks = [row[0] for row in rows]
    waits = [outcome - vicidial for _, outcome, vicidial, _ in rows]
    vicidial = [row[2] for row in rows]
    pickups = [row[3] for row in rows]
    print(
        f"{len(rows)} approvals, one at a time, one worker (--interval 0.2 s), "
        f"VICIdial answering in {args.vicidial_ms:g} ms more"
    )
    print(f"outcomes: {', '.join(sorted(statuses))}")
    print("                                   median    p95    max  (ms)")
    for name, values in (
        ("approve click (the web request)", clicks),
        ("click to outcome, less VICIdial", waits),
        ("  of which: task waits for pickup", pickups),
        ("VICIdial's own answer", vicidial),
    ):
        print(
            f"{name:<34} {statistics.median(values):6.0f} {percentile(values, 0.95):6.0f} "
            f"{max(values):6.0f}"
        )
    return 0 if statuses == {AliasRequest.Status.SUCCEEDED} else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100, help="approvals measured")
    parser.add_argument("--warm-up", type=int, default=5, help="approvals made first, unmeasured")
    parser.add_argument(
        "--vicidial-ms", type=float, default=0.0, help="VICIdial's answer time (simulated)"
    )
    parser.add_argument(
        "--think-ms", type=float, default=500.0, help="random pause before each click, up to"
    )
    parser.add_argument(
        "--calls-per-second",
        type=float,
        default=0.0,
        help="VICIDIAL_CALLS_PER_SECOND (default 0, off: it would add its own spacing)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="worker-latency-") as workdir:
        return run(args, Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
