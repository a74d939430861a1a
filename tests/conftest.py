import os
import socket
import sys

# Under PYTHONDONTWRITEBYTECODE (set on the shared machine) pytest would rewrite the asserts of
# every test module again in every xdist process and run: about 6 s of CPU per process,
# a third of the session's start. Their compiled form goes to a cache outside the checkout
# instead (pytest and Python check it against each source file's size and time), so the
# working tree stays as clean as the variable wants it.
if sys.dont_write_bytecode and not sys.pycache_prefix:
    # In the user's own cache folder: in a shared /tmp another user could plant the files.
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    sys.pycache_prefix = os.path.join(cache_home, "portal-tests-pycache")
    sys.dont_write_bytecode = False

import pgtrigger  # noqa: E402
import pytest
from django.db import connection
from django.test import Client, TransactionTestCase

from aliases.simulator import VicidialSimulator, demo_state

from .base import PERSONAS, make_users
from .vicidial_mariadb import (  # noqa: F401 - fixtures for every test module
    vicidial_db,
    vicidial_db_for_this_process,
)
from .workers import workers  # noqa: F401 - real task worker processes (PostgreSQL)


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs PostgreSQL: runs in the PostgreSQL pass of make test")
    if connection.vendor != "postgresql":
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


DATABASE_FIXTURES = {"db", "transactional_db", "live_server"}


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_database_free_first(items):
    """pytest-django runs tests without a database last. mutmut passes the tests that reach a
    mutant fastest first and stops at the first failure, so the quick unit tests that kill
    most mutants would otherwise wait behind every database test and its migrations."""
    if "MUTANT_UNDER_TEST" in os.environ:
        items.sort(
            key=lambda item: bool(
                item.get_closest_marker("django_db")
                or DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
            )
        )


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_guards():
    """transactional_db empties every table with TRUNCATE, which the audit triggers refuse:
    only that clean-up ignores them (a test's own statements never do)."""
    original = TransactionTestCase._fixture_teardown

    def teardown(self):
        with pgtrigger.ignore():
            original(self)

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original


@pytest.fixture
def users(db):
    return make_users(PERSONAS)


@pytest.fixture
def client_for(users):
    def logged_in(name: str, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(users[name])
        return client

    return logged_in


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def django_db_dump(db):
    """Every row of every table as text, to search for values that must never be stored."""

    def dump() -> str:
        lines = []
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names():
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
                lines.extend(f"{table} {row!r}" for row in cursor.fetchall())
        return "\n".join(lines)

    return dump


@pytest.fixture(scope="session")
def simulator_server():
    server = VicidialSimulator().start()
    yield server
    server.stop()


@pytest.fixture
def simulator(simulator_server, settings):
    """A fresh simulated VICIdial per test: the demo phones and the portal's API user."""
    simulator_server.state = demo_state(
        user=settings.VICIDIAL_API_USER, password=settings.VICIDIAL_API_PASS
    )
    settings.VICIDIAL_API_URL = simulator_server.url
    return simulator_server


@pytest.fixture
def simulator_on_mariadb(simulator_server, vicidial_db, settings):  # noqa: F811 - the fixture
    """The simulated VICIdial keeping its phones (the demo ones) and aliases in `vicidial_db`'s
    tables, and the portal reading that database (read-only) as it reads VICIdial's: what the
    API did is what the database shows, as on a real server."""
    state = demo_state(
        user=settings.VICIDIAL_API_USER,
        password=settings.VICIDIAL_API_PASS,
        db_url=vicidial_db.writer_url,
    )
    simulator_server.state = state
    settings.VICIDIAL_API_URL = simulator_server.url
    settings.VICIDIAL_DB_URL = vicidial_db.url
    yield simulator_server
    state.close()
