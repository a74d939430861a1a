"""Two PostgreSQL roles: the owner migrates, the application role does the portal's work and
nothing more. It cannot empty or rewrite the audit trail, nor alter a table or its triggers."""

import io
import re
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse

from aliases.db_roles import connected_as, table_privileges
from aliases.models import AliasRequest, AuditChainHead, AuditEvent
from aliases.roles import Role

from .base import PASSWORD, make_user
from .tampering import make_signing_key

AUDIT_TABLES = [
    "aliases_auditevent",
    "aliases_auditeventextension",
    "aliases_auditdigest",
    "aliases_auditchainhead",
]
NO_PRIVILEGE = "permission denied for"
NOT_OWNER = "must be owner of"


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str

    def config(self, role: str) -> dict:
        # Trust authentication on 127.0.0.1 lets any role in without a password.
        return {**connection.settings_dict, "USER": role, "PASSWORD": ""}

    def connect(self, role: str) -> psycopg.Connection:
        """A second connection to the test database, outside Django, as `role`."""
        settings = connection.settings_dict
        return psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"],
            dbname=settings["NAME"],
            user=role,
            autocommit=True,
        )


def _role_names() -> tuple[str, str]:
    # Roles belong to the whole cluster, and several test runs may share it: the names
    # follow this run's test database, which no other run uses at the same time.
    database = re.sub(r"[^a-z0-9_]", "_", connection.settings_dict["NAME"].lower())[:50]
    return f"{database}_owner", f"{database}_app"


def _drop(cursor, *roles: str) -> None:
    for role in roles:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone():
            # The roles must own nothing and hold nothing here before they can go.
            cursor.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")


@pytest.fixture(scope="module")
def roles(django_db_setup, django_db_blocker):
    """The deployment's two roles on the test database: the owner owns every table (as if it
    had migrated them), and portal_db_roles, run as the owner, granted the application role."""
    owner, app = _role_names()
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            _drop(cursor, app, owner)  # left behind by a run that was killed
            cursor.execute(f"CREATE ROLE {owner} LOGIN")
            cursor.execute(f"CREATE ROLE {app} LOGIN")
            # In production the owner owns the database, and so its schema.
            cursor.execute(f"GRANT CREATE ON SCHEMA public TO {owner}")
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            for (table,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE public."{table}" OWNER TO {owner}')
        found = Roles(owner=owner, app=app)
        with connected_as(found.config(owner)):
            # Twice: a re-run after each migrate must leave the same privileges.
            call_command("portal_db_roles", app=app, stdout=io.StringIO())
            call_command("portal_db_roles", app=app, stdout=io.StringIO())
    yield found
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # The tables go back to the test runner's role, which flushes and drops them.
        _drop(cursor, app, owner)


def grants(roles: Roles) -> dict[str, set[str]]:
    with roles.connect(roles.app) as app, app.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = current_user AND table_schema = 'public'"
        )
        found: dict[str, set[str]] = {}
        for table, privilege in cursor.fetchall():
            found.setdefault(table, set()).add(privilege)
        return found


@pytest.mark.postgres_only
def test_the_application_role_holds_only_its_privileges(roles):
    held = grants(roles)
    assert held == {table: set(granted) for table, granted in table_privileges().items()}
    for table in AUDIT_TABLES[:3]:
        assert held[table] == {"SELECT", "INSERT"}
    assert held["aliases_auditchainhead"] == {"SELECT", "INSERT", "UPDATE"}
    assert not any({"TRUNCATE", "REFERENCES", "TRIGGER"} & granted for granted in held.values())
    deleted = {table for table, granted in held.items() if "DELETE" in granted}
    assert {"django_session", "axes_accessattempt", "django_tasks_database_dbtaskresult"} <= deleted
    assert not deleted & {"aliases_aliasrequest", "aliases_vicidialcall", *AUDIT_TABLES}
    with roles.connect(roles.app) as app, app.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [roles.owner])
        assert cursor.fetchone()[0] is False


def _trigger_function(cursor) -> str:
    cursor.execute(
        "SELECT p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = 'aliases_auditevent'::regclass AND NOT t.tgisinternal LIMIT 1"
    )
    return cursor.fetchone()[0]


REFUSED = [
    *((f"TRUNCATE {table}", NO_PRIVILEGE) for table in AUDIT_TABLES),
    ("TRUNCATE aliases_auditevent CASCADE", NO_PRIVILEGE),
    ("TRUNCATE auth_user CASCADE", NO_PRIVILEGE),
    ("TRUNCATE aliases_aliasrequest", NO_PRIVILEGE),
    *((f"DELETE FROM {table}", NO_PRIVILEGE) for table in AUDIT_TABLES),  # noqa: S608
    ("UPDATE aliases_auditevent SET reason = 'rewritten'", NO_PRIVILEGE),
    ("UPDATE aliases_auditeventextension SET login = '2001'", NO_PRIVILEGE),
    ("UPDATE aliases_auditdigest SET sequence = 0", NO_PRIVILEGE),
    ("DELETE FROM aliases_aliasrequest", NO_PRIVILEGE),
    ("ALTER TABLE aliases_auditevent DISABLE TRIGGER USER", NOT_OWNER),
    ("ALTER TABLE aliases_auditevent DISABLE TRIGGER ALL", NOT_OWNER),
    ("ALTER TABLE aliases_auditchainhead DISABLE TRIGGER USER", NOT_OWNER),
    ("ALTER TABLE aliases_auditevent ADD COLUMN forged text", NOT_OWNER),
    ("ALTER TABLE aliases_aliasrequest DROP CONSTRAINT IF EXISTS anything", NOT_OWNER),
    ("DROP TABLE aliases_auditevent CASCADE", NOT_OWNER),
    (
        "CREATE OR REPLACE FUNCTION {trigger_function}() RETURNS trigger LANGUAGE plpgsql "
        "AS 'BEGIN RETURN NEW; END'",
        # Without CREATE on the schema (PostgreSQL 15, or the REVOKE in docs/DEPLOY.md),
        # that is refused first; otherwise not owning the function refuses it.
        "permission denied for schema public|must be owner of function",
    ),
    ("SET ROLE {owner}", "permission denied to set role"),
]


@pytest.mark.postgres_only
@pytest.mark.parametrize(("sql", "refusal"), REFUSED, ids=[sql for sql, _ in REFUSED])
def test_the_application_role_cannot_empty_rewrite_or_alter(roles, sql, refusal):
    with roles.connect(roles.app) as app, app.cursor() as cursor:
        sql = sql.format(trigger_function=_trigger_function(cursor), owner=roles.owner)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=refusal):
            cursor.execute(sql)


@pytest.mark.postgres_only
def test_switching_the_triggers_off_for_the_session_does_not_help_the_application_role(roles):
    # pgtrigger skips the triggers a session names; a privilege it lacks still stops it.
    with roles.connect(roles.app) as app, app.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(tgname, ',') FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid = ANY('{aliases_auditevent,aliases_auditchainhead}'::regclass[])"
        )
        cursor.execute(f"SET pgtrigger.ignore = '{{{cursor.fetchone()[0]}}}'")
        for sql in ("DELETE FROM aliases_auditevent", "DELETE FROM aliases_auditchainhead"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=NO_PRIVILEGE):
                cursor.execute(sql)


@pytest.mark.postgres_only
def test_a_table_of_a_later_migration_is_usable_at_once_but_not_deletable(roles):
    with roles.connect(roles.owner) as owner, roles.connect(roles.app) as app:
        owner.execute(
            "CREATE TABLE public.roles_probe (id bigint GENERATED BY DEFAULT AS IDENTITY "
            "PRIMARY KEY, note text)"
        )
        try:
            app.execute("INSERT INTO roles_probe (note) VALUES ('new')")
            app.execute("UPDATE roles_probe SET note = 'changed'")
            assert app.execute("SELECT note FROM roles_probe").fetchall() == [("changed",)]
            for sql in ("DELETE FROM roles_probe", "TRUNCATE roles_probe"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match=NO_PRIVILEGE):
                    app.execute(sql)
        finally:
            owner.execute("DROP TABLE public.roles_probe")


def log_in(client: Client, username: str, password: str = PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.mark.postgres_only
def test_the_portals_work_succeeds_as_the_application_role(
    roles, transactional_db, simulator, settings, tmp_path
):
    private, public = make_signing_key(tmp_path)
    settings.AUDIT_SIGNING_KEY_FILE = str(private)
    digests = tmp_path / "digests"
    digests.mkdir()
    with connected_as(roles.config(roles.app)):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == roles.app
        make_user("supervisor", [Role.SUPERVISOR])
        make_user("admin", [Role.ADMIN])

        supervisor = Client()
        assert log_in(supervisor, "supervisor", "a wrong guess").status_code == 200
        assert AccessAttempt.objects.count() == 1
        assert log_in(supervisor, "supervisor").status_code == 302
        # A good password resets the failures: axes deletes them.
        assert not AccessAttempt.objects.exists()
        response = supervisor.post(
            reverse("aliases:request_new"),
            {
                "alias_id": "roles_desk",
                "alias_name": "Roles desk",
                "phone_logins": "cc100, bb100",
                "justification": "Proves the application role can work.",
                "submission_token": uuid.uuid4(),
            },
        )
        assert response.status_code == 302
        # Logging out deletes the session row.
        assert supervisor.post(reverse("logout")).status_code == 302

        admin = Client()
        assert log_in(admin, "admin").status_code == 302
        alias_request = AliasRequest.objects.get()
        admin.post(reverse("aliases:request_approve", args=[alias_request.pk]), {"note": "ok"})
        alias_request.refresh_from_db()
        assert alias_request.status == AliasRequest.Status.SUCCEEDED
        assert simulator.state.alias("roles_desk").logins_list == "cc100,bb100"

        call_command("audit_checkpoint", "--output-dir", str(digests), stdout=io.StringIO())
        out = io.StringIO()
        call_command(
            "verify_audit", "--digests", str(digests), "--public-key", str(public), stdout=out
        )
        assert out.getvalue().startswith("OK: ")
    events = AuditEvent.objects.count()
    assert events >= 6
    assert AuditChainHead.objects.get().sequence == events


@pytest.mark.postgres_only
def test_portal_migrate_migrates_as_the_owner_then_regrants_the_application_role(
    roles, transactional_db, settings
):
    database = connection.settings_dict
    settings.MIGRATE_DATABASE_URL = (
        f"postgres://{roles.owner}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )
    with connection.cursor() as cursor:
        # Granted by hand at some point: the next migrate takes it back.
        cursor.execute(f"GRANT TRUNCATE, DELETE ON aliases_auditevent TO {roles.app}")
    out = io.StringIO()
    # The deployment's step: DATABASE_URL is the application role's, as for the web.
    with connected_as(roles.config(roles.app)):
        call_command("portal_migrate", "--noinput", stdout=out)
    assert "No migrations to apply" in out.getvalue()
    assert f"Migrated as {roles.owner}; {roles.app} may use its" in out.getvalue()
    assert grants(roles)["aliases_auditevent"] == {"SELECT", "INSERT"}


@pytest.mark.postgres_only
def test_portal_migrate_refuses_an_owner_url_for_another_database(settings):
    database = connection.settings_dict
    settings.MIGRATE_DATABASE_URL = (
        f"postgres://owner@{database['HOST']}:{database['PORT']}/{database['NAME']}_other"
    )
    with pytest.raises(CommandError, match="must name the same database"):
        call_command("portal_migrate", "--noinput")


@pytest.mark.postgres_only
def test_portal_db_roles_refuses_a_superuser_as_the_application_role(roles, db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        superuser = cursor.fetchone()[0]
    with pytest.raises(CommandError, match=f"{superuser} is a superuser"):
        call_command("portal_db_roles", app=superuser, owner=roles.owner)


def test_the_printed_sql_reads_and_appends_the_trail_and_truncates_nothing():
    out = io.StringIO()
    call_command(
        "portal_db_roles", "--app", "portal_app", "--owner", "portal_owner", "--print", stdout=out
    )
    script = out.getvalue()
    assert script.startswith("-- The application role portal_app")
    assert "TRUNCATE" not in script and "password" not in script.lower()
    assert 'ALTER DEFAULT PRIVILEGES FOR ROLE "portal_owner" IN SCHEMA "public"' in script
    granted = re.findall(r"^GRANT ([A-Z, ]+) ON TABLE\n((?:    .*\n)+)TO", script, re.MULTILINE)
    by_table = {
        name: privileges
        for privileges, names in granted
        for name in re.findall(r'"public"\."(\w+)"', names)
    }
    assert {by_table[table] for table in AUDIT_TABLES[:3]} == {"SELECT, INSERT"}
    assert by_table["aliases_auditchainhead"] == "SELECT, INSERT, UPDATE"
    assert by_table["aliases_aliasrequest"] == "SELECT, INSERT, UPDATE"
    assert by_table["django_session"] == "SELECT, INSERT, UPDATE, DELETE"


@pytest.mark.parametrize("name", ["Portal_App", "app; DROP TABLE x", 'app"', ""])
def test_role_names_must_be_plain(name):
    with pytest.raises(CommandError, match="lower-case letters"):
        call_command("portal_db_roles", "--app", name, "--owner", "portal_owner", "--print")
