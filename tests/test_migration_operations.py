"""The index migrations build their indexes without holding off writes on PostgreSQL."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from aliases.migration_operations import AddIndexWithoutBlockingWrites

INDEX_MIGRATIONS = ["0014_pages_indexes", "0014_admin_indexes", "0015_admin_speed"]


@pytest.mark.parametrize("name", INDEX_MIGRATIONS)
def test_index_migrations_use_the_shared_operation_outside_a_transaction(db, name):
    migration = MigrationLoader(connection).get_migration("aliases", name)
    assert not migration.atomic  # CREATE INDEX CONCURRENTLY refuses to run in a transaction
    assert migration.operations
    assert all(type(op) is AddIndexWithoutBlockingWrites for op in migration.operations)


# Outside a test transaction: SQLite's schema editor refuses to start inside one.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", INDEX_MIGRATIONS)
def test_indexes_are_built_concurrently_on_postgresql_only(name):
    out = StringIO()
    call_command("sqlmigrate", "aliases", name, stdout=out)
    creates = [line for line in out.getvalue().splitlines() if line.startswith("CREATE INDEX")]
    assert creates
    concurrently = connection.vendor == "postgresql"
    assert all(("CONCURRENTLY" in line) == concurrently for line in creates), creates
