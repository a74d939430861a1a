"""How long verify_audit takes on a large trail: prints the figures for docs/PERFORMANCE.md.

    .venv/bin/python bench/audit_verify.py [EVENTS]   (default 200000; PostgreSQL on PG_SERVER)

Builds a scratch database with EVENTS keyed, chained events (two extensions each, as a
request's events have), bulk-loaded with COPY, then times `verify_audit` with and without
digests. The scratch database is dropped afterwards.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
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


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    # Fixed argv, no shell; psql and openssl come from PATH as in .ci/run.
    return subprocess.run(argv, check=True, **kwargs)  # noqa: S603


def psql(sql: str) -> None:
    run("psql", f"{PG_SERVER}/postgres", "-qc", sql)


def populate(count: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from aliases import audit
    from aliases.models import AuditEvent

    call_command("migrate", verbosity=0)
    ring = audit.key_ring()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev_hash = ""
    event = AuditEvent(
        event_type="vicidial.call",
        actor_username="admin",
        actor_role="Admin",
        source_ip="192.0.2.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        correlation_id="0123456789abcdef0123456789abcdef",
        extensions=["1001", "cc100"],
        outcome="succeeded",
        reason="SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED",
        changes={"status": ["calling", "succeeded"], "attempt": 1},
    )
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
                event.sequence = sequence
                event.occurred_at = start + timedelta(seconds=sequence)
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
                copy.write_row((sequence, "1001"))
                copy.write_row((sequence, "cc100"))
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('aliases_auditevent', 'id'), %s)", [count]
        )
        cursor.execute(
            "UPDATE aliases_auditchainhead SET sequence = %s, hash = %s", [count, prev_hash]
        )
        cursor.execute("ALTER TABLE aliases_auditevent ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE aliases_auditchainhead ENABLE TRIGGER USER")
        cursor.execute("ANALYZE")
    print(
        f"loaded {count} events and {2 * count} index rows in {time.perf_counter() - began:.0f} s"
    )


def timed(*args: str) -> float:
    began = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        [sys.executable, str(ROOT / "manage.py"), "verify_audit", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - began
    # The largest child so far; verify_audit is by far the largest this script starts.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"verify_audit {' '.join(args)}: {elapsed:.1f} s, peak {peak_mib:.0f} MiB, "
        f"{result.stdout.splitlines()[:1]}"
    )
    if result.returncode:
        print(result.stderr[-500:])
    return elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    psql(f"CREATE DATABASE {DB_NAME}")
    try:
        populate(count)
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
            elapsed = timed()
            timed("--digests", str(digests), "--public-key", str(public))
            print(f"{count / elapsed:,.0f} events/s")
    finally:
        from django.db import connections

        connections.close_all()
        psql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
