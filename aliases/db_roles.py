"""The two PostgreSQL roles of a deployment (docs/DEPLOY.md, "Database roles").

The owner role owns every table and runs the migrations. The application role, which the web
processes and task workers connect as, owns nothing: it may SELECT, INSERT and UPDATE, DELETE
only where the portal really deletes, and on the audit tables only SELECT and INSERT. Not
being the owner, it cannot ALTER a table, disable its triggers or replace their functions;
without TRUNCATE or DELETE it cannot empty the trail even past pgtrigger's session switch.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

SCHEMA = "public"
# Append-only: rows are added, read and never changed (aliases/models/audit.py).
APPEND_ONLY = ("aliases.AuditEvent", "aliases.AuditEventExtension", "aliases.AuditDigest")
# The chain head is locked (SELECT ... FOR UPDATE needs UPDATE) and moved one event forward;
# its triggers refuse anything else.
CHAIN_HEAD = "aliases.AuditChainHead"
# What the portal deletes in its normal work, and where. Django deletes the rows that CASCADE
# from these itself (a user's admin log entries, memberships, digest row), so they get
# DELETE too; every many-to-many link table does as well (editing a user's groups).
DELETED_BY_THE_PORTAL = {
    "sessions.Session": "log-out, a new session key at log-in, clearsessions",
    "axes.AccessAttempt": "a successful log-in resets its failures; expired ones are removed",
    "axes.AccessLog": "axes_reset_logs",
    "axes.AccessFailureLog": "axes keeps a bounded number per user",
    "django_tasks_database.DBTaskResult": "prune_db_task_results",
    "aliases.WorkerHeartbeat": "a task worker that stops cleanly removes its row",
    "aliases.AliasLogin": "an alias's logins are replaced when VICIdial's change",
    "auth.User": "the admin, for a user who never acted (PROTECT keeps all others)",
    "auth.Group": "the admin",
}
# Read only: the schema's history, which only the owner writes.
READ_ONLY_TABLES = ("django_migrations",)
# What a table created by a later migration gets before the next run re-applies the rules.
DEFAULT_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _portal_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]


def _deleted_with(roots: list[type[models.Model]]) -> set[type[models.Model]]:
    """The roots and every model whose rows are deleted with theirs (on_delete=CASCADE)."""
    found: set[type[models.Model]] = set()
    pending = list(roots)
    while pending:
        model = pending.pop()
        if model in found:
            continue
        found.add(model)
        pending.extend(
            relation.related_model
            for relation in model._meta.related_objects
            if getattr(relation, "on_delete", None) is models.CASCADE
        )
    return found


def table_privileges() -> dict[str, tuple[str, ...]]:
    """Each table of the portal and what the application role may do on it."""
    portal_models = _portal_models()
    deleted = _deleted_with([apps.get_model(label) for label in DELETED_BY_THE_PORTAL])
    deleted |= {model for model in portal_models if model._meta.auto_created}
    append_only = {apps.get_model(label) for label in APPEND_ONLY}
    if deleted & (append_only | {apps.get_model(CHAIN_HEAD)}):
        # A CASCADE into the audit trail would make the portal's own deletes fail, or worse.
        raise ImproperlyConfigured("A table the portal deletes from cascades into the audit trail.")
    privileges = dict.fromkeys(READ_ONLY_TABLES, ("SELECT",))
    for model in sorted(portal_models, key=lambda model: model._meta.db_table):
        if model in append_only:
            granted = ("SELECT", "INSERT")
        elif model in deleted:
            granted = (*DEFAULT_TABLE_PRIVILEGES, "DELETE")
        else:
            granted = DEFAULT_TABLE_PRIVILEGES
        privileges[model._meta.db_table] = granted
    return privileges


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checked_role_name(name: str) -> str:
    # Role names go into SQL as identifiers; the plain lower-case ones need no thought.
    if not ROLE_NAME.fullmatch(name):
        raise ValueError(
            f"Role name {name!r}: use lower-case letters, digits and _ (up to 63 characters)."
        )
    return name


def grant_statements(*, owner: str, app: str) -> list[str]:
    """The SQL that gives `app` exactly its privileges on `owner`'s tables; safe to re-run."""
    owner, app = quoted(checked_role_name(owner)), quoted(checked_role_name(app))
    privileges = table_privileges()
    schema = quoted(SCHEMA)
    by_privileges: dict[tuple[str, ...], list[str]] = {}
    for table, granted in privileges.items():
        by_privileges.setdefault(granted, []).append(table)

    def table_list(names: list[str]) -> str:
        return ",\n    ".join(f"{schema}.{quoted(name)}" for name in names)

    # REVOKE first, so a re-run also takes back what was granted earlier, by hand or by an
    # older version of these rules (TRUNCATE, DELETE on the trail, ...).
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {app}",
        f"REVOKE ALL ON TABLE\n    {table_list(list(privileges))}\nFROM {app}",
    ]
    statements += [
        f"GRANT {', '.join(granted)} ON TABLE\n    {table_list(names)}\nTO {app}"
        for granted, names in by_privileges.items()
    ]
    sequence_privileges = ", ".join(SEQUENCE_PRIVILEGES)
    table_defaults = ", ".join(DEFAULT_TABLE_PRIVILEGES)
    statements += [
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {app}",
        f"GRANT {sequence_privileges} ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        # Tables a later migration creates are usable at once; the next run of these rules
        # (portal_migrate runs them after every migrate) narrows or widens them.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}\n"
        f"    GRANT {table_defaults} ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema}\n"
        f"    GRANT {sequence_privileges} ON SEQUENCES TO {app}",
    ]
    return statements


def grant_script(*, owner: str, app: str) -> str:
    """grant_statements as one psql script, with what each table class may do."""
    header = [
        f"-- The application role {app} on the tables of {owner}, the owner that migrates.",
        "-- Re-run after every migrate (manage.py portal_migrate does); it is idempotent.",
        "-- DELETE only where the portal deletes:",
        *(f"--   {label}: {reason}" for label, reason in DELETED_BY_THE_PORTAL.items()),
        "-- and on the rows deleted with theirs (CASCADE) and the many-to-many link tables.",
        "BEGIN;",
    ]
    statements = [f"{statement};" for statement in grant_statements(owner=owner, app=app)]
    return "\n".join([*header, *statements, "COMMIT;", ""])


def _one(cursor, sql: str, params: list[Any]) -> Any:
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return row[0] if row else None


def role_problems(connection: BaseDatabaseWrapper, *, owner: str, app: str) -> list[str]:
    """Why granting `app` its privileges on `owner`'s tables would not give the separation."""
    if owner == app:
        return [f"The owner and the application role must differ (both are {app})."]
    with connection.cursor() as cursor:
        for role in (owner, app):
            if not _one(cursor, "SELECT count(*) FROM pg_roles WHERE rolname = %s", [role]):
                return [f"Role {role} does not exist: create it first (docs/DEPLOY.md)."]
        problems = []
        if _one(cursor, "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = %s", [app]):
            problems.append(f"{app} is a superuser (or bypasses row security): it may do anything.")
        if _one(cursor, "SELECT pg_has_role(%s, %s, 'MEMBER')", [app, owner]):
            problems.append(f"{app} is a member of {owner}, so it has the owner's rights.")
        tables = list(table_privileges())
        cursor.execute(
            "SELECT tablename, tableowner FROM pg_tables "
            "WHERE schemaname = %s AND tablename = ANY(%s) ORDER BY tablename",
            [SCHEMA, tables],
        )
        owners = dict(cursor.fetchall())
    missing = [table for table in tables if table not in owners]
    if missing:
        problems.append(f"Tables missing (run migrate first): {', '.join(missing)}.")
    others = sorted(table for table, table_owner in owners.items() if table_owner != owner)
    if others:
        problems.append(
            f"Not owned by {owner}: {', '.join(others)}. Hand them over, e.g. "
            f"REASSIGN OWNED BY <their owner> TO {owner}."
        )
    return problems


def apply_grants(connection: BaseDatabaseWrapper, *, owner: str, app: str) -> int:
    """Check the roles, then give `app` its privileges in one transaction; returns the tables."""
    checked_role_name(owner)
    checked_role_name(app)
    problems = role_problems(connection, owner=owner, app=app)
    if problems:
        raise ImproperlyConfigured(" ".join(problems))
    with connection.cursor() as cursor:
        for statement in grant_statements(owner=owner, app=app):
            cursor.execute(statement)
    return len(table_privileges())


# What a connection is made of; the rest (ATOMIC_REQUESTS, CONN_MAX_AGE, TEST) stays.
CONNECTION_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


@contextmanager
def connected_as(config: dict[str, Any], alias: str = "default") -> Iterator[BaseDatabaseWrapper]:
    """Run the block with `alias` connected per `config` (e.g. the owner's URL), then
    reconnect as before. Without a pool: a one-off connection has no use for one."""
    connection = connections[alias]
    if connection.in_atomic_block:
        raise RuntimeError("Cannot switch roles inside a transaction.")
    saved = {key: connection.settings_dict.get(key) for key in CONNECTION_KEYS}
    options = {**(config.get("OPTIONS") or {})}
    options.pop("pool", None)
    _disconnect(connection)
    connection.settings_dict.update(
        {key: config.get(key, saved[key]) for key in CONNECTION_KEYS} | {"OPTIONS": options}
    )
    try:
        yield connection
    finally:
        _disconnect(connection)
        connection.settings_dict.update(saved)


def _disconnect(connection: BaseDatabaseWrapper) -> None:
    connection.close()
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None:
        close_pool()
