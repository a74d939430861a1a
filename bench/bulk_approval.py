"""How long an admin waits for a bulk approval, and how long the batch page takes: prints
the figures.

    .venv/bin/python bench/bulk_approval.py [REQUESTS]   (default 200; PostgreSQL on PG_SERVER)

Builds a scratch database with REQUESTS pending requests, then times `requests_approve_many`
of all of them with the production task backend (the database queue: each approval commits
and enqueues, no VICIdial call is made here), then the batch page as the live view fetches
it, with every call still queued. The scratch database is dropped afterwards.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "portal_bench_bulk_approval"
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"{PG_SERVER}/{DB_NAME}",
        "AUDIT_HMAC_KEYS": "bench:" + "YmVuY2gtb25seSBtYWMga2V5LCB0aGlydHktdHdvIGJ5dGVz",
        # Never called: the approvals only need settings that could make a call.
        "VICIDIAL_API_URL": "https://vicidial.invalid/vicidial/non_agent_api.php",
        "VICIDIAL_API_USER": "6666",
        "VICIDIAL_API_PASS": "bench-only-password",
    }
)


def psql(sql: str) -> None:
    # Fixed argv, no shell; psql comes from PATH as in .ci/run.
    subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)  # noqa: S603,S607


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    psql(f"CREATE DATABASE {DB_NAME}")
    try:
        import django

        django.setup()
        from django.apps import apps
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from aliases.role_permissions import ROLE_PERMISSIONS, grant
        from aliases.roles import Role
        from aliases.selectors_batches import batch_progress
        from aliases.services import alias_request_submit, requests_approve_many

        call_command("migrate", verbosity=0)
        grant(apps, ROLE_PERMISSIONS)
        users = get_user_model().objects
        asker = users.create_user(username="asker")
        asker.groups.set(Group.objects.filter(name=Role.SUPERVISOR.value))
        admin = users.create_user(username="boss", is_staff=True)
        admin.groups.set(Group.objects.filter(name=Role.ADMIN.value))
        ids = [
            alias_request_submit(
                requester=asker,
                alias_id=f"bench_{n}",
                alias_name=f"Desk {n}",
                phone_logins="1001, 1002",
                justification="Benchmark request.",
            ).pk
            for n in range(count)
        ]

        start = time.perf_counter()
        batch = requests_approve_many(request_ids=ids, actor=admin, note="Benchmark.")
        seconds = time.perf_counter() - start
        each = seconds / count * 1000
        print(f"{f'approve {count} requests in bulk':<34} {seconds:6.2f} s  ({each:.1f} ms each)")

        start = time.perf_counter()
        progress = batch_progress(batch)
        progress_ms = (time.perf_counter() - start) * 1000
        print(f"{'batch_progress':<34} {progress_ms:6.1f} ms  ({progress.remaining} queued)")

        client = Client()
        client.force_login(admin)
        url = reverse("aliases:batch_detail", args=[batch.pk])
        client.get(url)  # templates compiled, connections warm
        runs = 5
        start = time.perf_counter()
        for _ in range(runs):
            response = client.get(url)
        page_ms = (time.perf_counter() - start) / runs * 1000
        size = len(response.content) / 1024
        print(f"{'batch page, one live refresh':<34} {page_ms:6.1f} ms  ({size:.0f} KB)")
    finally:
        from django.db import connections

        connections.close_all()
        psql(f"DROP DATABASE IF EXISTS {DB_NAME}")


if __name__ == "__main__":
    main()
