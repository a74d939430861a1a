"""DATABASE_URL with reused connections (CONN_MAX_AGE) or Django's psycopg pool (DATABASE_POOL)."""

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.utils import load_backend

from portal.database import database_settings

POSTGRES = "postgres://portal_app@db.example.com:5432/portal"


@pytest.fixture
def environment(monkeypatch, tmp_path):
    for name in ("CONN_MAX_AGE", "DATABASE_POOL_MIN_SIZE", "DATABASE_POOL_MAX_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DATABASE_POOL_TIMEOUT", raising=False)
    monkeypatch.setenv("DATABASE_URL", POSTGRES)
    monkeypatch.setenv("DATABASE_POOL", "false")

    def settings_with(**variables: str) -> dict:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return database_settings(environ.Env(), base_dir=tmp_path)

    return settings_with


def test_without_a_pool_connections_are_reused_for_a_minute(environment):
    database = environment()
    assert database["CONN_MAX_AGE"] == 60
    assert "pool" not in database.get("OPTIONS", {})
    assert environment(CONN_MAX_AGE="0")["CONN_MAX_AGE"] == 0


def test_the_pool_takes_its_sizes_from_the_environment(environment):
    database = environment(
        DATABASE_POOL="true",
        DATABASE_POOL_MIN_SIZE="2",
        DATABASE_POOL_MAX_SIZE="6",
        DATABASE_POOL_TIMEOUT="3.5",
    )
    assert database["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 6, "timeout": 3.5}
    # Django refuses a pool with persistent connections.
    assert database["CONN_MAX_AGE"] == 0
    assert (database["USER"], database["NAME"]) == ("portal_app", "portal")


def test_the_pool_has_defaults_for_one_connection_per_request(environment):
    assert environment(DATABASE_POOL="true")["OPTIONS"]["pool"] == {
        "min_size": 1,
        "max_size": 4,
        "timeout": 10.0,
    }


def test_a_pool_and_persistent_connections_are_refused_at_start_up(environment):
    with pytest.raises(ImproperlyConfigured, match="unset CONN_MAX_AGE"):
        environment(DATABASE_POOL="true", CONN_MAX_AGE="60")
    assert environment(DATABASE_POOL="true", CONN_MAX_AGE="0")["CONN_MAX_AGE"] == 0


def test_a_pool_needs_postgresql(environment, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="needs PostgreSQL"):
        environment(DATABASE_POOL="true", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")


@pytest.mark.parametrize(("low", "high"), [("5", "4"), ("0", "0"), ("-1", "4")])
def test_pool_sizes_that_cannot_work_are_refused(environment, low, high):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL_MIN_SIZE"):
        environment(DATABASE_POOL="true", DATABASE_POOL_MIN_SIZE=low, DATABASE_POOL_MAX_SIZE=high)


def test_sqlite_keeps_its_immediate_transactions(environment, tmp_path):
    database = environment(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert database["OPTIONS"] == {"transaction_mode": "IMMEDIATE", "timeout": 20}


@pytest.mark.postgres_only
def test_the_pool_opens_and_lends_connections_to_postgresql(environment, db):
    test_database = connection.settings_dict
    url = (
        f"postgres://{test_database['USER']}@{test_database['HOST']}:"
        f"{test_database['PORT']}/{test_database['NAME']}"
    )
    database = environment(DATABASE_URL=url, DATABASE_POOL="true", DATABASE_POOL_MAX_SIZE="2")
    # Django's defaults for the keys a URL does not give (TIME_ZONE, TEST, ...).
    database = connections.configure_settings({"default": database})["default"]
    pooled = load_backend(database["ENGINE"]).DatabaseWrapper(database, alias="pooled")
    try:
        with pooled.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
        assert pooled.pool is not None
        assert pooled.pool.max_size == 2
        pooled.close()  # hands the connection back to the pool, which keeps it open
        assert pooled.pool.get_stats()["pool_available"] >= 1
        with pooled.cursor() as cursor:
            cursor.execute("SELECT 2")
            assert cursor.fetchone() == (2,)
        stats = pooled.pool.get_stats()
        # Two checkouts, served within max_size (the pool may open its second in advance).
        assert stats["requests_num"] == 2
        assert stats["connections_num"] <= 2
    finally:
        pooled.close()
        pooled.close_pool()
