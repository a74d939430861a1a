"""How long a bulk upload of the largest file takes: prints the figures.

    .venv/bin/python bench/bulk_upload.py [ROWS]   (default 500; PostgreSQL on PG_SERVER)

Builds a scratch database, then times `requests_upload` of ROWS add rows: a file with one
bad row under all or nothing (every row is made, then undone), the same file row by row
(ROWS - 1 requests kept), and a clean file. The upload holds the audit chain's head lock
for its whole transaction, so the figure is also how long other audited writes wait.
The scratch database is dropped afterwards.
"""

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "portal_bench_upload"
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
        "AUDIT_HMAC_KEYS": "bench:" + "YmVuY2gtb25seSBtYWMga2V5LCB0aGlydHktdHdvIGJ5dGVz",
    }
)


def psql(sql: str) -> None:
    # Fixed argv, no shell; psql comes from PATH as in .ci/run.
    subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)  # noqa: S603,S607


def csv_file(rows: int, prefix: str, *, bad_row: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["kind", "alias_id", "alias_name", "phone_logins", "justification"])
    for number in range(rows):
        name = "Desk #1" if bad_row and number == rows // 2 else f"Desk {number}"
        writer.writerow(["add", f"{prefix}{number}", name, "1001, 1002", "Benchmark row."])
    return buffer.getvalue().encode()


def timed(label: str, upload) -> None:
    start = time.perf_counter()
    outcome = upload()
    seconds = time.perf_counter() - start
    print(
        f"{label:<42} {seconds:6.2f} s  created {outcome.created:>3}, errors {len(outcome.errors)}"
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    psql(f"CREATE DATABASE {DB_NAME}")
    try:
        import django

        django.setup()
        from django.apps import apps
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.core.management import call_command

        from aliases.role_permissions import ROLE_PERMISSIONS, grant
        from aliases.roles import Role
        from aliases.services.bulk_upload import requests_upload

        call_command("migrate", verbosity=0)
        grant(apps, ROLE_PERMISSIONS)
        user = get_user_model().objects.create_user(username="bench")
        user.groups.set(Group.objects.filter(name=Role.SUPERVISOR.value))

        def upload(content: bytes, all_or_nothing: bool):
            return lambda: requests_upload(
                requester=user, filename="bench.csv", content=content, all_or_nothing=all_or_nothing
            )

        with_bad_row = csv_file(rows, "a", bad_row=True)
        print(f"{rows} rows, {len(with_bad_row) / 1024:.0f} KB")
        timed("one bad row, all or nothing (nothing kept)", upload(with_bad_row, True))
        timed("one bad row, row by row", upload(with_bad_row, False))
        timed("clean file", upload(csv_file(rows, "b", bad_row=False), True))
    finally:
        from django.db import connections

        connections.close_all()
        psql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
