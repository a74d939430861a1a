"""How fast verify_audit checks a large trail: prints the figures for docs/PERFORMANCE.md.

    .venv/bin/python bench/audit_verify.py [EVENTS] [--jobs 1,2] [--keep] [--reuse]

EVENTS (default 200000) keyed, chained events are bulk-loaded with COPY into the scratch
PostgreSQL database portal_bench_audit on PG_SERVER, shaped as the app writes them: five
events per request, each request with its own two extensions, a creation whose `changes`
are its own (alias, name, justification) and four steps whose `changes` repeat, some
non-ASCII text, and one event in a thousand with quotes, a backslash and a tab in its
reason, which take the exact slow path. Then it
times `verify_audit` with each --jobs value, in-process (the verifier alone) and as the
command (with Django's start-up), and once with digests. --keep leaves the database for
the next run, which --reuse then verifies without loading it again.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "portal_bench_audit"
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
        "AUDIT_HMAC_KEYS": "bench:" + "YmVuY2gtb25seSBtYWMga2V5LCB0aGlydHktdHdvIGJ5dGVz",
    }
)

STEPS = [
    ("request.created", "pending", [None, "pending"]),
    ("request.approved", "approved", ["pending", "approved"]),
    ("request.call_started", "calling", ["approved", "calling"]),
    ("vicidial.call", "succeeded", ["calling", "succeeded"]),
    ("request.succeeded", "succeeded", ["calling", "succeeded"]),
]


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    # Fixed argv, no shell; psql and openssl come from PATH as in .ci/run.
    return subprocess.run(argv, check=True, **kwargs)  # noqa: S603


def psql(sql: str, database: str = "postgres") -> str:
    return run(
        "psql", f"{PG_SERVER}/{database}", "-qAtc", sql, capture_output=True, text=True
    ).stdout.strip()


def bench_event(sequence: int, start: datetime):
    """Event #sequence of the data set: varied as real requests are."""
    from aliases.models import AuditEvent

    request, step = divmod(sequence - 1, len(STEPS))
    event_type, outcome, status = STEPS[step]
    reason = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED" if step == 3 else ""
    if sequence % 1000 == 0:
        reason = 'Said "no"\tthen C:\\path'
    supervisor = f"supervisor{request % 40}"
    if step == 0:
        # What a request's creation hashes is its own; the later steps repeat themselves.
        changes = {
            "status": status,
            "alias_id": [None, f"desk_{request}"],
            "alias_name": [None, f"Café desk {request}"],
            "justification": [None, f"Team {request % 300} needs one number."],
        }
    elif step == 1:
        changes = {"status": status, "decided_by": [None, supervisor]}
    elif step == 3:
        changes = {}
    else:
        changes = {"status": status}
    return AuditEvent(
        sequence=sequence,
        occurred_at=start + timedelta(seconds=sequence, microseconds=sequence % 997),
        event_type=event_type,
        actor_username=supervisor,
        actor_role="Supervisor" if step < 2 else "Admin",
        source_ip=f"192.0.2.{request % 250}",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        correlation_id=f"{request:032x}",
        extensions=[f"{1000 + request % 20000}", f"cc{request % 500}"],
        outcome=outcome,
        reason=reason,
        changes=changes,
    )


def populate(count: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from aliases import audit

    call_command("migrate", verbosity=0)
    ring = audit.key_ring()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev_hash = ""
    began = time.perf_counter()
    with connection.cursor() as cursor:
        # Loading past the guards, as only the tables' owner can.
        cursor.execute("ALTER TABLE aliases_auditevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE aliases_auditchainhead DISABLE TRIGGER USER")
        raw = cursor.cursor
        with raw.copy(
            "COPY aliases_auditevent (id, sequence, occurred_at, event_type, actor_username, "
            "actor_role, source_ip, user_agent, correlation_id, extensions, outcome, reason, "
            "changes, prev_hash, hash, key_id, mac) FROM STDIN"
        ) as copy:
            for sequence in range(1, count + 1):
                event = bench_event(sequence, start)
                own_hash = audit.chain_hash(audit.canonical_content(event), prev_hash)
                copy.write_row(
                    (
                        sequence,
                        sequence,
                        event.occurred_at,
                        event.event_type,
                        event.actor_username,
                        event.actor_role,
                        event.source_ip,
                        event.user_agent,
                        event.correlation_id,
                        json.dumps(event.extensions),
                        event.outcome,
                        event.reason,
                        json.dumps(event.changes),
                        prev_hash,
                        own_hash,
                        ring.signing_id,
                        ring.mac(ring.signing_id, own_hash),
                    )
                )
                prev_hash = own_hash
        with raw.copy("COPY aliases_auditeventextension (event_id, login) FROM STDIN") as copy:
            for sequence in range(1, count + 1):
                for login in bench_event(sequence, start).extensions:
                    copy.write_row((sequence, login))
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('aliases_auditevent', 'id'), %s)", [count]
        )
        cursor.execute(
            "UPDATE aliases_auditchainhead SET sequence = %s, hash = %s", [count, prev_hash]
        )
        cursor.execute("ALTER TABLE aliases_auditevent ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE aliases_auditchainhead ENABLE TRIGGER USER")
        cursor.execute("VACUUM ANALYZE")
    print(
        f"loaded {count:,} events and {2 * count:,} index rows "
        f"in {time.perf_counter() - began:.0f} s"
    )


class BackendCPU:
    """CPU seconds the PostgreSQL backends serving DB_NAME used meanwhile, workers' included:
    /proc sampled every 50 ms, so a backend that exits loses at most that much."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(0.05):
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    if DB_NAME.encode() not in (proc / "cmdline").read_bytes():
                        continue
                    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.seen[int(proc.name)] = (int(fields[11]) + int(fields[12])) / tick

    def __enter__(self) -> "BackendCPU":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def used_since(self, before: dict[int, float]) -> float:
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in self.seen.items())


def python_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def in_process(jobs: int, count: int, cpu: BackendCPU) -> None:
    """The verifier alone, without Django's start-up: what the figure at scale is about.
    With the CPU seconds it took, the figure for an idle machine shows despite the noise."""
    from django.db import connections

    from aliases import audit

    connections.close_all()
    time.sleep(0.2)
    backends_before, python_before = dict(cpu.seen), python_cpu()
    began = time.perf_counter()
    report = audit.verify_chain(jobs=jobs)
    elapsed = time.perf_counter() - began
    time.sleep(0.2)
    python = python_cpu() - python_before
    postgres = cpu.used_since(backends_before)
    state = "OK" if report.ok else f"BROKEN: {report.problem}"
    # On an idle machine: each worker and its backend run side by side, all share the cores.
    cores = os.cpu_count() or 1
    bound = max(python / jobs, postgres / jobs, (python + postgres) / cores, 1e-9)
    print(
        f"  verify_chain(jobs={jobs}): {elapsed:.2f} s, {count / elapsed:,.0f} events/s ({state})\n"
        f"    CPU: Python {python:.1f} s, PostgreSQL {postgres:.1f} s, "
        f"{1e6 * (python + postgres) / count:.1f} µs an event: about "
        f"{count / bound:,.0f} events/s when nothing else runs"
    )


def command(*args: str, count: int) -> None:
    began = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        [sys.executable, str(ROOT / "manage.py"), "verify_audit", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - began
    # The largest process so far, the workers included once they were waited for.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    first_line = (result.stdout.splitlines() or [""])[0][:40]
    print(
        f"  manage.py verify_audit {' '.join(args)}: {elapsed:.2f} s, "
        f"{count / elapsed:,.0f} events/s, peak {peak_mib:.0f} MiB, {first_line!r}"
    )
    if result.returncode:
        print(result.stderr[-500:])


def loaded_count() -> int:
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'")  # noqa: S608
    if not exists:
        return 0
    return int(psql("SELECT coalesce(max(sequence), 0) FROM aliases_auditevent", DB_NAME) or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("events", nargs="?", type=int, default=200_000)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to time")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="verify a kept database as is")
    options = parser.parse_args()
    jobs = [int(value) for value in options.jobs.split(",")]
    count = options.events
    reuse = options.reuse and loaded_count() == count
    if not reuse:
        psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        psql(f"CREATE DATABASE {DB_NAME}")
    import django

    django.setup()
    try:
        if not reuse:
            populate(count)
        print(f"{count:,} events, {os.cpu_count()} CPUs (PostgreSQL on the same machine):")
        with BackendCPU() as cpu:
            for value in jobs:
                in_process(value, count, cpu)
        for value in jobs:
            command("--jobs", str(value), count=count)
        with tempfile.TemporaryDirectory() as folder:
            key = Path(folder) / "signing.pem"
            run("openssl", "genpkey", "-algorithm", "ed25519", "-out", key)
            public = Path(folder) / "signing.pub.pem"
            run("openssl", "pkey", "-in", key, "-pubout", "-out", public)
            digests = Path(folder) / "digests"
            digests.mkdir()
            env = {**os.environ, "AUDIT_SIGNING_KEY_FILE": str(key)}
            run(
                sys.executable,
                "manage.py",
                "audit_checkpoint",
                "--output-dir",
                digests,
                cwd=ROOT,
                env=env,
                capture_output=True,
            )
            command("--digests", str(digests), "--public-key", str(public), count=count)
    finally:
        from django.db import connections

        connections.close_all()
        if not options.keep:
            psql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
