"""What the portal adds to one approval on top of VICIdial's own answer, measured side by
side in one run.

    .venv/bin/python bench/approval_overhead.py            # 50 of each
    .venv/bin/python bench/approval_overhead.py -n 200

A scratch PostgreSQL database (bench/scratch.py) and the VICIdial simulator as a real HTTP
server on loopback. Taking turns, N times each:
- VICIdial alone: the portal's VICIdial client sends add_phone_alias for a new alias
  straight to the simulator, with no database involved;
- a full approval: the approve POST through Django's test client (the decision, its event
  and the call's task row, committed), then the worker's side, alias_request_call, in this
  process (pace, slot, queued to calling, the call, the outcome and its events).
Prints the median, min and max of each and of the difference, the CPU time this thread
spent on each (the portal's Python side, which a loaded machine distorts less than the
wall clock; the simulator runs in a thread of its own, PostgreSQL in its own processes),
and the statements and commits of one approval. The worker's poll interval is not in it:
bench/worker_latency.py measures that, with a real worker process.
"""

import argparse
import re
import secrets
import socket
import statistics
import time

from scratch import scratch_database, user_with_role

HOST = "127.0.0.1"
PHONES = ("1001", "1002", "2001", "2002")
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label:<34} median {statistics.median(values):7.2f} ms   "
        f"min {min(values):7.2f}   max {max(values):7.2f}"
    )


class Counted:
    """Statements and commits (COMMITs, and writes outside a transaction) of a block."""

    def __enter__(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.connection = connection
        self.alone = 0
        self.capture = CaptureQueriesContext(connection)
        self.capture.__enter__()
        self.wrapper = connection.execute_wrapper(self._watch)
        self.wrapper.__enter__()
        return self

    def _watch(self, execute, sql, params, many, context):
        if WRITE.match(sql) and not self.connection.in_atomic_block:
            self.alone += 1
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self.wrapper.__exit__(*exc)
        self.capture.__exit__(*exc)
        statements = [query["sql"] for query in self.capture.captured_queries]
        self.queries = len(statements)
        self.commits = statements.count("COMMIT") + self.alone
        self.head_locks = sum(
            1 for sql in statements if "aliases_auditchainhead" in sql and "FOR UPDATE" in sql
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=50)
    args = parser.parse_args()

    port = free_port()
    password = secrets.token_urlsafe(18)
    environ = {
        "ALLOWED_HOSTS": "testserver",
        "VICIDIAL_API_URL": f"http://{HOST}:{port}/vicidial/non_agent_api.php",
        "VICIDIAL_API_USER": "6666",
        "VICIDIAL_API_PASS": password,
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        # High enough never to make a call wait, so the pace row is read and moved each time.
        "VICIDIAL_CALLS_PER_SECOND": "1000",
        "EMAIL_URL": "memorymail://",
    }
    with scratch_database("portal_bench_approval_overhead", **environ):
        run(args.count, port, password)


def run(count: int, port: int, password: str) -> None:
    from django.test import Client
    from django.urls import reverse

    from aliases.models import AliasRequest
    from aliases.roles import Role
    from aliases.services import alias_request_submit, queue
    from aliases.simulator import VicidialSimulator, demo_state
    from aliases.vicidial import VicidialClient

    asker = user_with_role("asker", Role.SUPERVISOR)
    admin = user_with_role("boss", Role.ADMIN, is_staff=True)
    client = Client()
    client.force_login(admin)
    vicidial = VicidialClient(server="default")
    simulator = VicidialSimulator(demo_state(user="6666", password=password)).start(HOST, port)
    alone, portal, posts, approvals = [], [], [], []
    alone_cpu, portal_cpu = [], []
    try:
        warm_up = 3
        for number in range(count + warm_up):
            phones = [PHONES[number % len(PHONES)]]
            started, started_cpu = time.perf_counter(), time.thread_time()
            reply = vicidial.add_phone_alias(
                alias_id=f"direct{number}",
                alias_name=f"Direct {number}",
                phone_logins=phones,
                reference=f"bench{number}",
            )
            direct_ms = (time.perf_counter() - started) * 1000
            direct_cpu_ms = (time.thread_time() - started_cpu) * 1000
            assert reply.result.value == "succeeded", reply.body

            pending = alias_request_submit(
                requester=asker,
                alias_id=f"bench{number}",
                alias_name=f"Bench {number}",
                phone_logins=phones,
                justification="Measuring what an approval costs.",
            )
            url = reverse("aliases:request_approve", args=[pending.pk])
            with Counted() as counted:
                started, started_cpu = time.perf_counter(), time.thread_time()
                response = client.post(url, {"note": ""})
                posted_ms = (time.perf_counter() - started) * 1000
                said = queue.alias_request_call(pending.pk)
                portal_ms = (time.perf_counter() - started) * 1000
                approval_cpu_ms = (time.thread_time() - started_cpu) * 1000
            assert response.status_code == 302 and said == "called VICIdial: succeeded", said
            assert AliasRequest.objects.get(pk=pending.pk).status == "succeeded"
            if number >= warm_up:
                alone.append(direct_ms)
                portal.append(portal_ms)
                alone_cpu.append(direct_cpu_ms)
                portal_cpu.append(approval_cpu_ms)
                posts.append(posted_ms)
                approvals.append(counted)
    finally:
        simulator.stop()

    added = [whole - direct for whole, direct in zip(portal, alone, strict=True)]
    print(f"{count} of each, taking turns (PostgreSQL, simulator on loopback, one process)")
    print(summary("VICIdial alone (client -> simulator)", alone))
    print(summary("approve POST + worker call", portal))
    print(summary("  of which the approve POST", posts))
    print(summary("portal added (pairwise)", added))
    difference = statistics.median(portal) - statistics.median(alone)
    print(f"{'portal added (median - median)':<34} {difference:7.2f} ms")
    print(summary("CPU of this thread: VICIdial alone", alone_cpu))
    print(summary("CPU of this thread: approval", portal_cpu))
    last = approvals[-1]
    print(
        f"per approval: {last.queries} statements (BEGIN/COMMIT and the session included), "
        f"{last.commits} commits, chain head locked {last.head_locks} times (once in each "
        "of its 3 transactions that write events)"
    )


if __name__ == "__main__":
    main()
