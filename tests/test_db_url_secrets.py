"""A VICIdial database password the MySQL driver cannot send (it encodes it as Latin-1) or
any other failure of the driver: read as a VicidialDatabaseError with the password nowhere
in it, so no page, audit event or loop ever shows it, and refused at start-up by name."""

from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.core.checks import run_checks
from django.core.management import call_command
from django.urls import reverse
from django.views.debug import ExceptionReporter

from aliases import selectors_inventory
from aliases.models import AliasRequest, AuditEvent, Extension
from aliases.services import alias_request_approve, db_verification, extensions, vicidial_reads
from aliases.simulator import Fault
from aliases.vicidial_db import (
    VicidialDatabase,
    VicidialDatabaseError,
    fetch_alias,
    fetch_aliases,
    fetch_aliases_ringing,
    fetch_phone_logins,
    fetch_phones,
)

from .base import submit
from .inventory_helpers import text_of

# Not Latin-1: pymysql's password.encode("latin1") fails, and its error repr quotes it.
PASSWORD = "Db€Secret-77"
URL = f"mysql://portal_ro:{quote(PASSWORD, safe='')}@127.0.0.1:3306/asterisk"
READS = {
    "phones": fetch_phones,
    "phones_alias": fetch_aliases,
    "one alias": lambda target: fetch_alias(target, "sales_desk", timeout=2),
    "ringing": lambda target: fetch_aliases_ringing(target, "1001"),
    "logins": fetch_phone_logins,
}


def hides_the_password(text: str) -> bool:
    return PASSWORD not in text and quote(PASSWORD, safe="") not in text and "Secret-77" not in text


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_password_the_driver_cannot_send_is_a_scrubbed_error(read):
    with pytest.raises(VicidialDatabaseError) as caught:
        read(VicidialDatabase.from_url(URL))
    message = str(caught.value)
    assert message.startswith("Cannot read phones")
    assert "mysql://portal_ro@127.0.0.1:3306/asterisk" in message
    assert "Latin-1" in message
    assert hides_the_password(message) and hides_the_password(repr(caught.value))
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_any_other_driver_failure_is_a_scrubbed_error_without_its_chain():
    # A host name the resolver cannot encode: the driver re-raises a bare UnicodeError.
    target = VicidialDatabase.from_url("mysql://portal_ro:Plain-Secret-77@a..b:3306/asterisk")
    with pytest.raises(VicidialDatabaseError) as caught:
        fetch_phones(target)
    assert str(caught.value).startswith("Cannot read phones from mysql://portal_ro@a..b:3306/")
    assert "UnicodeError" in str(caught.value)
    assert "Plain-Secret-77" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_drift_page_says_it_cannot_read(users, client_for, settings):
    settings.VICIDIAL_DB_URL = URL
    response = client_for("auditor").get(reverse("aliases:drift"), {"server": "default"})
    assert response.status_code == 200
    page = text_of(response)
    assert "Cannot read phones_alias from mysql://portal_ro@127.0.0.1:3306/asterisk" in page
    assert hides_the_password(response.content.decode())
    assert hides_the_password(str(list(AuditEvent.objects.values_list("reason", "changes"))))


def test_the_extension_page_says_it_cannot_read(users, client_for, settings):
    settings.VICIDIAL_DB_URL = URL
    response = client_for("auditor").get(reverse("aliases:extension_history", args=["1001"]))
    assert response.status_code == 200
    assert "Cannot read phones_alias from mysql://portal_ro@" in text_of(response)
    assert hides_the_password(response.content.decode())


def test_preflight_and_the_approval_event_say_it_cannot_read(
    users, simulator, client_for, settings, django_db_dump
):
    settings.VICIDIAL_DB_URL = URL
    pending = submit(users["supervisor"])
    response = client_for("admin").get(reverse("aliases:request_detail", args=[pending.pk]))
    assert response.status_code == 200
    assert "VICIdial's database could not be read: Cannot read phones_alias" in text_of(response)
    assert hides_the_password(response.content.decode())
    done = alias_request_approve(request_id=pending.pk, actor=users["admin"])
    assert done.status == AliasRequest.Status.SUCCEEDED
    approved = AuditEvent.objects.get(event_type=AuditEvent.Type.REQUEST_APPROVED)
    assert any(not check["ok"] for check in approved.changes["preflight"])
    assert hides_the_password(django_db_dump())


def test_the_reconcile_loop_carries_on(users, simulator, settings, capsys, django_db_dump):
    settings.VICIDIAL_DB_URL = URL
    simulator.state.inject(Fault(reset=True, process=True))
    waiting = alias_request_approve(request_id=submit(users["supervisor"]).pk, actor=users["admin"])
    assert waiting.status == AliasRequest.Status.NEEDS_VERIFICATION
    due = db_verification.verification_due_at(waiting)
    with time_machine.travel(due + timedelta(seconds=1)):
        call_command("reconcile_inflight")
    waiting.refresh_from_db()
    assert waiting.status == AliasRequest.Status.NEEDS_VERIFICATION
    assert "Latin-1" in waiting.outcome_reason
    captured = capsys.readouterr()
    assert hides_the_password(captured.out + captured.err)
    assert hides_the_password(django_db_dump())


def e012(settings) -> list:
    return [message for message in run_checks() if message.id == "aliases.E012"]


def test_start_up_refuses_a_password_the_driver_cannot_send(settings):
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": "https://east.example/x", "API_PASS": "p", "DB_URL": URL}
    }
    settings.VICIDIAL_DB_URL = URL.replace(quote("€"), "e")
    [problem] = e012(settings)
    assert problem.msg.startswith("VICIDIAL_EAST_DB_URL has a password the MySQL driver")
    assert hides_the_password(f"{problem.msg} {problem.hint}")


def test_start_up_refuses_a_database_url_it_cannot_parse(settings):
    settings.VICIDIAL_DB_URL = "postgres://portal_ro:Plain-Secret-77@127.0.0.1/asterisk"
    [problem] = e012(settings)
    assert problem.msg.startswith("VICIDIAL_DB_URL: The VICIdial database URL must look like")
    assert "Plain-Secret-77" not in problem.msg


def test_start_up_accepts_a_good_or_no_database_url(settings):
    settings.VICIDIAL_DB_URL = "mysql://portal_ro:Plain-Secret-77@127.0.0.1:3306/asterisk"
    assert e012(settings) == []
    settings.VICIDIAL_DB_URL = ""
    assert e012(settings) == []


def frame_variables(error: BaseException, function: str) -> dict[str, str]:
    """The local variables Django's error report (the admins' mail, the debug page) shows
    of `function`'s frame."""
    reporter = ExceptionReporter(None, type(error), error, error.__traceback__)
    [frame] = [f for f in reporter.get_traceback_frames() if f["function"] == function]
    return dict(reporter.filter.get_traceback_frame_variables(None, frame["tb"].tb_frame))


def raise_inside(*args, **kwargs):
    raise RuntimeError("a bug below the function holding the URL")


def raised_by(call) -> BaseException:
    try:
        call()
    except RuntimeError as error:
        return error
    raise AssertionError("expected the failure")


SECRET_URL = "mysql://portal_ro:Plain-Secret-77@127.0.0.1:3306/asterisk"


# Each function holding a database URL, and what it calls with it (made to fail).
HOLDERS = {
    "server_database": (
        vicidial_reads.VicidialDatabase,
        "from_url",
        lambda: vicidial_reads.server_database("default"),
    ),
    "vicidial_aliases_ringing": (
        selectors_inventory,
        "fetch_aliases_ringing",
        lambda: selectors_inventory.vicidial_aliases_ringing(login="1001"),
    ),
    "extensions_sync_from_vicidial": (
        extensions,
        "fetch_phones",
        lambda: extensions.extensions_sync_from_vicidial(),
    ),
}


@pytest.mark.parametrize("function", HOLDERS)
def test_error_reports_hide_the_database_url(db, settings, monkeypatch, function):
    module, callee, call = HOLDERS[function]
    settings.DEBUG = False
    settings.VICIDIAL_DB_URL = SECRET_URL
    monkeypatch.setattr(module, callee, raise_inside)
    shown = frame_variables(raised_by(call), function)
    assert shown["db_url"] == "********************"
    assert "Plain-Secret-77" not in repr(shown)
    assert not Extension.objects.exists()
