"""The portal's database from the environment: DATABASE_URL, its connection reuse or pool."""

from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

POSTGRESQL = "django.db.backends.postgresql"
SQLITE = "django.db.backends.sqlite3"


def database_settings(env: environ.Env, *, base_dir: Path) -> dict[str, Any]:
    database = env.db("DATABASE_URL", default=f"sqlite:///{base_dir / 'db.sqlite3'}")
    database["ATOMIC_REQUESTS"] = False
    database["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_POOL", default=False):
        _pool(env, database)
    else:
        # Reusing connections took the load test from 31 to 45 req/s (docs/PERFORMANCE.md).
        database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    if database["ENGINE"] == SQLITE:
        # Writers take the lock when their transaction starts, so read-then-write steps
        # cannot interleave (PostgreSQL gets the same from SELECT ... FOR UPDATE).
        database.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    return database


def _pool(env: environ.Env, database: dict[str, Any]) -> None:
    """Django's psycopg pool, one per process: each gunicorn worker or task worker holds
    between min_size and max_size connections and lends one to each request."""
    if database["ENGINE"] != POSTGRESQL:
        raise ImproperlyConfigured("DATABASE_POOL=true needs PostgreSQL in DATABASE_URL.")
    # Django refuses a pool with persistent connections, but only at the first query.
    if env.int("CONN_MAX_AGE", default=0) != 0:
        raise ImproperlyConfigured(
            "DATABASE_POOL=true keeps connections in the pool: unset CONN_MAX_AGE (or set 0)."
        )
    min_size = env.int("DATABASE_POOL_MIN_SIZE", default=1)
    max_size = env.int("DATABASE_POOL_MAX_SIZE", default=4)
    if not 0 <= min_size <= max_size or max_size < 1:
        raise ImproperlyConfigured(
            "DATABASE_POOL_MIN_SIZE and DATABASE_POOL_MAX_SIZE: need 0 <= min <= max, max >= 1."
        )
    database["CONN_MAX_AGE"] = 0
    database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": min_size,
        "max_size": max_size,
        # Seconds a request waits for a free connection before it fails.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
