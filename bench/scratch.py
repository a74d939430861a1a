"""A throw-away PostgreSQL database with the portal migrated into it, for the benchmarks
that call the service layer directly (bench/bulk_approval.py, bench/bulk_upload.py)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("PG_SERVER", "postgres://postgres@127.0.0.1:5432")
# A fixed key: nothing here is kept, and the figures must not depend on the key.
BENCH_MAC_KEY = "bench:" + "YmVuY2gtb25seSBtYWMga2V5LCB0aGlydHktdHdvIGJ5dGVz"


def psql(sql: str) -> None:
    # Fixed argv, no shell; psql comes from PATH as in .ci/run.
    subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)  # noqa: S603,S607


@contextmanager
def scratch_database(name: str, **environ: str) -> Iterator[None]:
    """Django set up on a new database `name` (dropped again afterwards), migrated, with
    the portal's role groups; `environ`: further settings, as environment variables."""
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "true",
            "DATABASE_URL": f"{PG_SERVER}/{name}",
            "AUDIT_HMAC_KEYS": BENCH_MAC_KEY,
            **environ,
        }
    )
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    try:
        import django

        django.setup()
        from django.apps import apps
        from django.core.management import call_command

        from aliases.role_permissions import ROLE_PERMISSIONS, grant

        call_command("migrate", verbosity=0)
        grant(apps, ROLE_PERMISSIONS)
        yield
    finally:
        from django.db import connections

        connections.close_all()
        psql(f"DROP DATABASE IF EXISTS {name}")


def user_with_role(username: str, role, **fields):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username=username, **fields)
    user.groups.set(Group.objects.filter(name=role.value))
    return user
