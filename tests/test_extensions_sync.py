"""The sync reads a real MariaDB: a throwaway database shaped like VICIdial's `phones`."""

import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
import pytest
from django.core.management import CommandError, call_command

from aliases.audit import EventType
from aliases.models import AuditEvent, Extension
from aliases.services.extensions import extensions_sync_from_vicidial
from aliases.vicidial_db import VicidialDatabase, VicidialDatabaseError

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}

PHONES_TABLE = """
CREATE TABLE phones (
    extension VARCHAR(100) NOT NULL,
    server_ip VARCHAR(15) NOT NULL,
    login VARCHAR(20),
    protocol ENUM('SIP','Zap','IAX2','EXTERNAL') DEFAULT 'SIP',
    UNIQUE KEY extenserver (extension, server_ip)
)
"""


@dataclass
class Vicidial:
    admin: pymysql.connections.Connection
    database: str
    url: str
    password: str

    def add_phone(self, login: str, extension: str, protocol: str = "SIP", server_ip: str = ""):
        with self.admin.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO `{self.database}`.phones (login, extension, protocol, server_ip) "  # noqa: S608
                "VALUES (%s, %s, %s, %s)",
                (login, extension, protocol, server_ip or "10.0.0.5"),
            )

    def remove_phone(self, login: str) -> None:
        with self.admin.cursor() as cursor:
            cursor.execute(f"DELETE FROM `{self.database}`.phones WHERE login = %s", (login,))  # noqa: S608


@pytest.fixture
def vicidial() -> Iterator[Vicidial]:
    """A database of its own per test, read through an account that may only SELECT."""
    try:
        admin = pymysql.connect(**MARIADB, autocommit=True, connect_timeout=3)
    except pymysql.MySQLError as error:
        pytest.fail(
            f"The sync tests need MariaDB on 127.0.0.1:3306 (root, empty password): {error}. "
            "Start it with: start-stop-daemon --start --oknodo --background "
            "--exec /usr/sbin/mariadbd",
            pytrace=False,
        )
    suffix = secrets.token_hex(6)
    database = f"portal_test_vicidial_{suffix}"
    user = f"portal_ro_{suffix}"
    password = "Pw-" + secrets.token_urlsafe(12)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}`")
            cursor.execute(f"USE `{database}`")
            cursor.execute(PHONES_TABLE)
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cursor.execute(f"GRANT SELECT ON `{database}`.phones TO %s@'%%'", (user,))
        yield Vicidial(
            admin=admin,
            database=database,
            url=f"mysql://{user}:{password}@127.0.0.1:3306/{database}",
            password=password,
        )
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        admin.close()


def catalogue() -> dict[str, tuple[str, str, str, bool]]:
    return {
        row.login: (row.extension, row.protocol, row.server_ip, row.known_to_vicidial)
        for row in Extension.objects.all()
    }


def sync_events():
    return AuditEvent.objects.filter(event_type=EventType.EXTENSIONS_SYNCED)


def test_sync_mirrors_phones_and_marks_removed_ones_unknown(db, vicidial):
    vicidial.add_phone("cc100", "100")
    vicidial.add_phone("cc101", "101", protocol="IAX2", server_ip="10.0.0.6")

    first = extensions_sync_from_vicidial(db_url=vicidial.url)

    assert (first.created, first.updated, first.marked_unknown, first.written) == (2, 0, 0, True)
    assert catalogue() == {
        "cc100": ("100", "SIP", "10.0.0.5", True),
        "cc101": ("101", "IAX2", "10.0.0.6", True),
    }

    vicidial.remove_phone("cc101")
    second = extensions_sync_from_vicidial(db_url=vicidial.url)

    assert (second.unchanged, second.marked_unknown) == (1, 1)
    assert catalogue()["cc101"] == ("101", "IAX2", "10.0.0.6", False)
    assert sync_events().count() == 2
    assert sync_events().first().extensions == ["cc101"]


def test_sync_updates_by_login_without_regard_to_case_and_keeps_descriptions(db, vicidial):
    Extension.objects.create(login="CC100", protocol="Zap", description="Front desk")
    vicidial.add_phone("cc100", "100")

    report = extensions_sync_from_vicidial(db_url=vicidial.url)

    assert (report.created, report.updated) == (0, 1)
    row = Extension.objects.get()
    assert (row.login, row.protocol, row.description, row.known_to_vicidial) == (
        "cc100",
        "SIP",
        "Front desk",
        True,
    )


def test_an_unchanged_sync_writes_no_audit_event(db, vicidial):
    vicidial.add_phone("cc100", "100")
    extensions_sync_from_vicidial(db_url=vicidial.url)

    again = extensions_sync_from_vicidial(db_url=vicidial.url)

    assert (again.unchanged, again.written) == (1, False)
    assert sync_events().count() == 1


def test_a_login_on_two_phones_is_kept_once_with_a_warning(db, vicidial):
    vicidial.add_phone("cc100", "100")
    vicidial.add_phone("CC100", "200", server_ip="10.0.0.9")
    vicidial.add_phone("", "300")

    report = extensions_sync_from_vicidial(db_url=vicidial.url)

    assert report.created == 1
    assert len(report.warnings) == 2
    assert any("more than one phone" in warning for warning in report.warnings)


def test_the_audit_event_holds_no_password(db, vicidial, django_db_dump):
    vicidial.add_phone("cc100", "100")

    extensions_sync_from_vicidial(db_url=vicidial.url)

    event = sync_events().get()
    assert event.changes["source"].startswith("mysql://portal_ro_")
    assert vicidial.password not in django_db_dump()


def test_a_wrong_password_is_a_clean_error_without_it(db, vicidial):
    wrong = "Wrong-" + secrets.token_urlsafe(8)
    url = vicidial.url.replace(vicidial.password, wrong)

    with pytest.raises(VicidialDatabaseError, match="Access denied") as caught:
        extensions_sync_from_vicidial(db_url=url)

    assert wrong not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not Extension.objects.exists()


def test_an_unreachable_database_is_a_clean_error_without_the_password(db, unused_port):
    password = "Secret-" + secrets.token_urlsafe(8)
    url = f"mysql://cron:{password}@127.0.0.1:{unused_port}/asterisk"

    with pytest.raises(CommandError) as caught:
        call_command("sync_extensions", "--db-url", url, stdout=io.StringIO())

    message = str(caught.value)
    assert f"Cannot read phones from mysql://cron@127.0.0.1:{unused_port}/asterisk" in message
    assert password not in message


@pytest.mark.parametrize(
    "url", ["postgres://u:p@host/db", "mysql://u:p@host", "mysql://u:p@host:notaport/db"]
)
def test_a_malformed_url_is_refused_without_echoing_it(db, url):
    with pytest.raises(VicidialDatabaseError, match="must look like mysql://") as caught:
        extensions_sync_from_vicidial(db_url=url)

    assert ":p@" not in str(caught.value)


def test_command_reads_the_url_from_settings(db, vicidial, settings):
    vicidial.add_phone("cc100", "100")
    settings.VICIDIAL_DB_URL = vicidial.url
    out = io.StringIO()

    call_command("sync_extensions", stdout=out, stderr=io.StringIO())

    assert "1 created, 0 updated, 0 unchanged, 0 marked unknown" in out.getvalue()
    assert vicidial.password not in out.getvalue()


def test_command_without_a_url_says_how_to_configure_one(db, settings):
    settings.VICIDIAL_DB_URL = ""

    with pytest.raises(CommandError, match="set VICIDIAL_DB_URL or pass --db-url"):
        call_command("sync_extensions", stdout=io.StringIO())


def test_the_database_password_stays_out_of_repr():
    target = VicidialDatabase.from_url("mysql://reader:S3cret-pw@127.0.0.1:3306/asterisk")
    assert "S3cret-pw" not in repr(target)
    assert "S3cret-pw" not in str(target)
