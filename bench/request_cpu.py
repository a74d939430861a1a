"""CPU time and queries per request of the bench/load.py mix, in one process, one at a time.

    .venv/bin/python bench/request_cpu.py [-n 100] [--db portal_bench_cpu] [--profile FILE]

On a machine shared with other work, req/s measures the neighbours; the CPU time a request
costs the process that serves it does not, or much less. This replays bench/load.py's
journey through Django's whole handler (every middleware, CSRF enforced) on a fresh
PostgreSQL database with production settings, and prints per operation the CPU ms
(process time: Python, the driver, not PostgreSQL's side) and the queries. gunicorn's own
parsing and its access log line are not in it (bench/load.py's CPU table has them).
`--profile` also records the process with py-spy (collapsed stacks) and summarises it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402 - after the path is set
    DETAIL_PATH,
    PHONES,
    drop_database,
    hidden_fields,
    manage,
    portal_env,
    recreate_database,
)
from bench.load_cpu import PROFILE_RATE, PY_SPY, summarise_profile  # noqa: E402

HOST = "127.0.0.1"
WARM_UP = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="rounds (a submit and an approve each)")
    parser.add_argument("--db", default="portal_bench_cpu")
    parser.add_argument("--profile", type=Path, metavar="FILE")
    parser.add_argument(
        "--show-queries", action="store_true", help="print the queries of each operation once"
    )
    return parser.parse_args()


class Timings:
    def __init__(self) -> None:
        self.cpu_ms: dict[str, list[float]] = defaultdict(list)
        self.queries: dict[str, list[int]] = defaultdict(list)
        self.examples: dict[str, list[str]] = {}

    def report(self) -> None:
        print("| operation | count | CPU ms median | CPU ms mean | queries median | max |")
        print("|---|---|---|---|---|---|")
        for op in sorted(self.cpu_ms):
            cpu, queries = self.cpu_ms[op], self.queries[op]
            print(
                f"| {op} | {len(cpu)} | {statistics.median(cpu):.1f} | "
                f"{statistics.fmean(cpu):.1f} | {statistics.median(queries):g} | "
                f"{max(queries)} |"
            )
        for op, statements in sorted(self.examples.items()):
            print(f"\n{op}: {len(statements)} queries")
            for sql in statements:
                print(f"  {' '.join(sql.split())[:160]}")
        counts = {op: len(values) for op, values in self.cpu_ms.items() if op != "login"}
        total = sum(statistics.fmean(self.cpu_ms[op]) * count for op, count in counts.items())
        print(
            f"\nthe mix without logins: {total / sum(counts.values()):.1f} CPU ms per request "
            "(this process only)"
        )


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-cpu-") as workdir:
        env = portal_env(Path(workdir) / "static", simulator_port=9, database=args.db)
        recreate_database(args.db)
        try:
            for command in (("collectstatic", "--noinput"), ("migrate", "--noinput")):
                manage(env, *command)
            manage(env, "seed_demo", "--force")
            os.environ.update(env)
            timings = replay(args.n, args.profile, show_queries=args.show_queries)
        finally:
            from django.db import connections

            connections.close_all()
            drop_database(args.db)
    timings.report()
    if args.profile:
        print(*summarise_profile(args.profile), sep="\n")
    return 0


def replay(rounds: int, profile: Path | None, *, show_queries: bool) -> Timings:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    timings = Timings()
    measuring = False

    def call(client: Client, op: str, method: str, path: str, expect: int, data=None):
        with CaptureQueriesContext(connection) as queries:
            started = time.process_time()
            response = (
                getattr(client, method)(path, data) if data else getattr(client, method)(path)
            )
            took = (time.process_time() - started) * 1000
        if response.status_code != expect:
            raise RuntimeError(f"{op}: {method} {path} -> {response.status_code}, not {expect}")
        if measuring:
            timings.cpu_ms[op].append(took)
            timings.queries[op].append(len(queries))
            if show_queries:
                timings.examples.setdefault(op, [query["sql"] for query in queries])
        return response

    def logged_in(username: str) -> Client:
        client = Client(enforce_csrf_checks=True, HTTP_HOST=HOST)
        page = call(client, "view login", "get", "/accounts/login/", 200)
        form = hidden_fields(page.content.decode()) | {
            "username": username,
            "password": f"{username}-demo",
        }
        call(client, "login", "post", "/accounts/login/", 302, form)
        return client

    supervisor, admin = logged_in("supervisor"), logged_in("admin")
    profiler = None
    for number in range(WARM_UP + rounds):
        if number == WARM_UP:
            measuring = True
            if profile:
                profiler = start_self_profile(profile)
        submitted = submit(call, supervisor, number)
        if number % 5 == 4:
            call(supervisor, "view list", "get", "/requests/", 200)
        approve(call, admin, submitted)
        if number % 5 == 0:
            call(admin, "view home", "get", "/", 200)
    if profiler:
        profiler.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        profiler.wait(timeout=30)
    return timings


def submit(call, client, number: int) -> str:
    page = call(client, "view form", "get", "/requests/new/", 200)
    form = hidden_fields(page.content.decode()) | {
        "alias_id": f"cpu{number:05d}",
        "alias_name": f"CPU {number}",
        "phone_logins": ", ".join(random.sample(PHONES, k=random.randint(1, 3))),
        "justification": "Load test",
    }
    done = call(client, "submit", "post", "/requests/new/", 302, form)
    location = done["Location"]
    if not DETAIL_PATH.fullmatch(location):
        raise RuntimeError(f"submit redirected to {location!r}")
    call(client, "view detail", "get", location, 200)
    return location


def approve(call, client, path: str) -> None:
    page = call(client, "view detail", "get", path, 200)
    form = {"csrfmiddlewaretoken": hidden_fields(page.content.decode())["csrfmiddlewaretoken"]}
    call(client, "approve", "post", f"{path}approve/", 302, form | {"note": ""})
    call(client, "view detail", "get", path, 200)


def start_self_profile(output: Path):
    import subprocess

    argv = [PY_SPY, "record", "--pid", str(os.getpid()), "--rate", str(PROFILE_RATE)]
    # --gil: only samples holding the GIL, so waiting for PostgreSQL's answer is left out.
    argv += ["--format", "raw", "--output", str(output), "--nonblocking", "--gil"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    time.sleep(1)  # py-spy attaches before the first measured request
    return process


if __name__ == "__main__":
    sys.exit(main())
