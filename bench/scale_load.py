"""Filling the scale database: created and migrated to HEAD, then loaded segment by segment
with COPY (bench/scale_data.py makes the rows). Call with Django set up on that database.

Secondary indexes, unique and foreign-key constraints of the loaded tables are dropped for
the COPY and rebuilt after it (one sort each instead of millions of inserts and checks); the
tables are then vacuumed and analysed, as autovacuum would leave them. What has been loaded
is kept in the database's comment, so a later run can top it up or reuse it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from django.db import connection, transaction

from . import scale_data as data

PG_SERVER = os.environ.get("PG_SERVER", "postgres://postgres@127.0.0.1:5432")
LOADED_TABLES = tuple(data.COLUMNS)
# The head of the chain and the index move only forward, one event at a time; the loader
# moves them by millions, as only the tables' owner can.
GUARDED_TABLES = ("aliases_auditchainhead", "aliases_auditevent", "aliases_auditeventextension")


@dataclass
class State:
    """What the database holds: the timeline it was built for and how much of it is loaded."""

    start: datetime
    end: datetime
    loaded: float = 0.0
    segments: int = 0
    size: float = 1.0  # below 1 for quick trials of the loader itself

    def as_comment(self) -> str:
        return json.dumps(
            {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "loaded": self.loaded,
                "segments": self.segments,
                "size": self.size,
            }
        )

    @classmethod
    def from_comment(cls, text: str | None) -> State | None:
        if not text or not text.startswith("{"):
            return None
        fields = json.loads(text)
        return cls(
            start=datetime.fromisoformat(fields["start"]),
            end=datetime.fromisoformat(fields["end"]),
            loaded=fields["loaded"],
            segments=fields["segments"],
            size=fields.get("size", 1.0),
        )

    @property
    def loaded_until(self) -> datetime:
        return self.start + data.SPAN * self.loaded


def server_url(database: str = "postgres") -> str:
    return f"{PG_SERVER}/{database}"


def recreate_database(name: str) -> None:
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def read_state() -> State | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        )
        return State.from_comment(cursor.fetchone()[0])


def write_state(state: State) -> None:
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute(f'COMMENT ON DATABASE "{name}" IS %s', [state.as_comment()])


def migrate_to_head() -> None:
    """Every app at its newest migration. Several 0014 leaves may exist while helpers work
    in parallel: migrating to all of them at once is what `migrate` would do once merged."""
    from django.apps import apps
    from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
    from django.db.migrations.executor import MigrationExecutor

    from aliases.role_permissions import ROLE_PERMISSIONS, grant

    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    emit_pre_migrate_signal(
        0, False, "default", plan=plan, apps=executor.loader.project_state().apps
    )
    state = executor.migrate(targets, plan=plan)
    # Content types and permissions, as `migrate` makes them.
    emit_post_migrate_signal(0, False, "default", plan=plan, apps=state.apps)
    # The groups' permissions, as scratch.py and the tests grant them after migrating.
    grant(apps, ROLE_PERMISSIONS)


def make_users() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from aliases.roles import Role

    User = get_user_model()
    groups = {group.name: group for group in Group.objects.all()}
    people = (
        [(f"supervisor{n:02d}", [Role.SUPERVISOR]) for n in range(1, data.SUPERVISORS + 1)]
        + [(f"admin{n:02d}", [Role.ADMIN]) for n in range(1, data.ADMINS + 1)]
        + [(f"auditor{n:02d}", [Role.AUDITOR]) for n in range(1, data.AUDITORS + 1)]
    )
    for username, roles in people:
        user = User.objects.create_user(
            username, email=f"{username}@example.com", is_staff=Role.SUPERVISOR not in roles
        )
        user.groups.set([groups[role.value] for role in roles])
    # The harness's own login: sees every page and every admin changelist.
    scale_admin = User.objects.create_superuser("scale_admin", "scale_admin@example.com", None)
    scale_admin.groups.set([groups[Role.ADMIN.value], groups[Role.AUDITOR.value]])


def load_users() -> data.Users:
    from django.contrib.auth import get_user_model

    labels = {"supervisor": "Supervisor", "admin": "Admin", "auditor": "Auditor"}
    found: dict[str, list] = {role: [] for role in labels}
    for pk, username in get_user_model().objects.order_by("pk").values_list("pk", "username"):
        role = username.rstrip("0123456789")
        if role in labels and username != role:
            found[role].append((pk, username, labels[role]))
    return data.Users(found["supervisor"], found["admin"], found["auditor"])


def read_cursor() -> data.Cursor:
    """The next ids and the chain's last hash: the load continues whatever was written since."""

    def next_id(table: str) -> int:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608
        return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequence, hash FROM aliases_auditevent ORDER BY sequence DESC LIMIT 1"
        )
        last = cursor.fetchone() or (0, "")
        return data.Cursor(
            request=next_id("aliases_aliasrequest"),
            call=next_id("aliases_vicidialcall"),
            sequence=last[0] + 1,
            index_row=next_id("aliases_auditeventextension"),
            alias=next_id("aliases_alias"),
            alias_login=next_id("aliases_aliaslogin"),
            requested_login=next_id("aliases_requestedlogin"),
            prev_hash=last[1],
        )


@dataclass(frozen=True)
class Deferred:
    """DDL dropped for the load, in the order it is put back."""

    indexes: list[str]
    uniques: list[tuple[str, str, str]]
    foreign_keys: list[tuple[str, str, str]]


def drop_secondary_structures(cursor) -> Deferred:
    tables = list(LOADED_TABLES)
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype "
        "FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u')",
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexdef, i.indexname FROM pg_indexes i WHERE i.schemaname = 'public' "
        "AND i.tablename = ANY(%s) AND i.indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'x'))",
        [tables],
    )
    indexes = cursor.fetchall()
    foreign = [(table, name, ddl) for table, name, ddl, kind in constraints if kind == "f"]
    unique = [(table, name, ddl) for table, name, ddl, kind in constraints if kind == "u"]
    for table, name, _ in foreign + unique:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _, name in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return Deferred([ddl for ddl, _ in indexes], unique, foreign)


def rebuild(cursor, deferred: Deferred) -> None:
    cursor.execute("SET maintenance_work_mem = '1GB'")
    cursor.execute("SET max_parallel_maintenance_workers = 2")
    for ddl in deferred.indexes:
        cursor.execute(ddl)
    for table, name, ddl in deferred.uniques + deferred.foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')


class Copier:
    """One COPY per table, each on its own connection, so PostgreSQL parses them side by
    side while Python hashes."""

    def __init__(self, url: str, *tables: str) -> None:
        self.connections = {table: psycopg.connect(url) for table in tables}
        self.cursors = {table: conn.cursor() for table, conn in self.connections.items()}
        self.copies = {}
        self.counts = dict.fromkeys(tables, 0)

    def __enter__(self) -> Copier:
        for table, cursor in self.cursors.items():
            copy = cursor.copy(f"COPY {table} ({data.COLUMNS[table]}) FROM STDIN")
            self.copies[table] = (copy, copy.__enter__())
        return self

    def write(self, table: str, row: tuple) -> None:
        self.copies[table][1].write_row(row)
        self.counts[table] += 1

    def __exit__(self, *failure) -> None:
        for copy, _ in self.copies.values():
            copy.__exit__(*failure)
        for conn in self.connections.values():
            if failure[0] is None:
                conn.commit()
            conn.close()


def copy_rows(url: str, table: str, rows) -> int:
    with Copier(url, table) as copier:
        for row in rows:
            copier.write(table, row)
    return copier.counts[table]


def _setval_all(cursor) -> None:
    for table in (*LOADED_TABLES, "aliases_auditevent"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
        )


def load_segment(*, state: State, until: float, log=print) -> dict[str, float]:
    """Load the timeline from what is loaded up to `until` (a fraction of the whole)."""
    from aliases.audit import chain
    from aliases.audit.keys import key_ring

    began = time.perf_counter()
    share = until - state.loaded
    segment_start = state.loaded_until
    number = state.segments + 1
    catalogue = data.Catalogue.build(seed=10)
    cursor_state = read_cursor()
    segment = data.Segment(
        number=number,
        start=segment_start,
        end=state.start + data.SPAN * until,
        share=share * state.size,
        users=load_users(),
        catalogue=catalogue,
        cursor=cursor_state,
    )
    planned = time.perf_counter()
    log(f"  planned segment {number} ({state.loaded:g} to {until:g}) in {planned - began:.0f} s")
    url = server_url(connection.settings_dict["NAME"])
    ring = key_ring()
    with connection.cursor() as cursor:
        for table in GUARDED_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        deferred = drop_secondary_structures(cursor)
    if cursor_state.request == 1:
        copy_rows(url, "aliases_extension", catalogue.extension_rows(state.end))
    events = ("aliases_auditevent", "aliases_auditeventextension", "aliases_vicidialcall")
    with Copier(url, *events) as copier:
        for row, index_rows, call_row in segment.events(chain, ring):
            copier.write("aliases_auditevent", row)
            for index_row in index_rows:
                copier.write("aliases_auditeventextension", index_row)
            if call_row is not None:
                copier.write("aliases_vicidialcall", call_row)
    counts = dict(copier.counts)
    copied = time.perf_counter()
    log(f"  hashed and copied {counts['aliases_auditevent']:,} events in {copied - planned:.0f} s")
    for table, rows in (
        ("aliases_aliasrequest", segment.request_rows()),
        ("aliases_requestedlogin", segment.requested_login_rows()),
        ("aliases_alias", segment.alias_rows()),
        ("aliases_aliaslogin", segment.alias_login_rows()),
    ):
        counts[table] = copy_rows(url, table, rows)
    # One transaction that first locks every loaded table: a reader or a page's audit record
    # arriving meanwhile waits for the rebuild instead of deadlocking with an ADD CONSTRAINT.
    with transaction.atomic(), connection.cursor() as cursor:
        locked = dict.fromkeys((*GUARDED_TABLES, *LOADED_TABLES))
        cursor.execute(f"LOCK TABLE {', '.join(locked)} IN ACCESS EXCLUSIVE MODE")
        _setval_all(cursor)
        cursor.execute(
            "INSERT INTO aliases_auditchainhead (id, sequence, hash) VALUES (1, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash",
            [cursor_state.sequence - 1, cursor_state.prev_hash],
        )
        rebuild(cursor, deferred)
        for table in GUARDED_TABLES:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    rebuilt = time.perf_counter()
    log(f"  rebuilt {len(deferred.indexes)} indexes and constraints in {rebuilt - copied:.0f} s")
    with psycopg.connect(url, autocommit=True) as vacuum:
        # As autovacuum leaves them: visibility map set (index-only scans), statistics fresh.
        vacuum.execute(f"VACUUM (ANALYZE) {', '.join(LOADED_TABLES)}")
        vacuum.execute("ANALYZE")
    state.loaded, state.segments = until, number
    write_state(state)
    log(f"  vacuumed and analysed in {time.perf_counter() - rebuilt:.0f} s")
    return {"seconds": time.perf_counter() - began, **counts, "index_rows": segment.index_rows}


def new_database(name: str, size: float = 1.0) -> State:
    """A fresh database at HEAD with the data set's people; its timeline ends today."""
    recreate_database(name)
    connection.close()
    migrate_to_head()
    make_users()
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    state = State(start=end - data.SPAN, end=end, size=size)
    write_state(state)
    return state
