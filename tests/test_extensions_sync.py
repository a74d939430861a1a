"""The sync reads a real MariaDB: a throwaway database shaped like VICIdial's `phones`."""

import io
import secrets

import pytest
from django.core.management import CommandError, call_command

from aliases.audit import EventType
from aliases.models import AuditEvent, Extension
from aliases.services.extensions import extensions_sync_from_vicidial
from aliases.vicidial_db import VicidialDatabase, VicidialDatabaseError


@pytest.fixture
def vicidial(vicidial_db):
    """VICIdial's database, read through an account that may only SELECT."""
    return vicidial_db


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
