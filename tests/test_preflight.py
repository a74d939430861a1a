"""The checks an approver sees before approving: the phone catalogue, VICIdial's database, the
circuit breaker and the exact fields that will be sent. They warn; they never block."""

import pymysql
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse

from aliases import preflight, services
from aliases.models import AuditEvent, Extension, VicidialCircuit
from aliases.preflight import preflight_checks
from aliases.vicidial.redaction import mask_for
from aliases.vicidial_db import PAGE_READ_TIMEOUT

from .base import submit
from .inventory_helpers import created_alias, text_of


def checks_by_key(alias_request) -> dict:
    return {check.key: check for check in preflight_checks(alias_request)}


def catalogue(*logins: str, server: str = "default") -> None:
    for login, protocol in logins:
        Extension.objects.create(server=server, login=login, extension=login, protocol=protocol)


def test_each_phone_is_looked_up_in_its_servers_catalogue_ignoring_case(users, settings):
    settings.VICIDIAL_SERVERS = {"east": {"API_URL": "http://127.0.0.1:9/x", "API_PASS": "x"}}
    catalogue(("Cc100", "IAX2"))
    catalogue(("1002", "SIP"), server="east")  # another server's phone does not count
    checks = checks_by_key(submit(users["supervisor"], logins="cC100,1002"))
    assert checks["phone:cC100"].ok
    assert checks["phone:cC100"].label == "Phone cC100 is in the catalogue"
    assert checks["phone:cC100"].detail == "IAX2 phone, extension Cc100"
    assert not checks["phone:1002"].ok
    assert checks["phone:1002"].detail.startswith("Not in the phone catalogue of default:")
    assert list(checks) == ["phone:cC100", "phone:1002", "circuit", "parameters"]


def test_the_circuit_check_warns_while_calls_are_stopped(users):
    alias_request = submit(users["supervisor"])
    assert checks_by_key(alias_request)["circuit"].ok
    VicidialCircuit.objects.create(server="default", is_open=True, reason="Login incorrect")
    stopped = checks_by_key(alias_request)["circuit"]
    assert not stopped.ok
    assert "rejected the portal's credentials (Login incorrect)" in stopped.detail


def test_the_fields_to_be_sent_are_exact_and_the_password_masked(users):
    alias_request = submit(users["supervisor"], logins="1001,1002")
    check = checks_by_key(alias_request)["parameters"]
    password = django_settings.VICIDIAL_API_PASS
    assert check.ok and check.label == "What add_phone_alias will send"
    assert check.fields == (
        ("function", "add_phone_alias"),
        ("user", "6666"),
        ("pass", mask_for(password)),
        ("alias_id", "sales_desk"),
        ("alias_name", "Sales desk"),
        ("phone_logins", "1001,1002"),
        ("source", f"portal{alias_request.pk}"),
    )
    assert password not in repr(check) and password not in repr(check.as_record())


def test_a_configuration_that_cannot_call_is_a_failed_check(users, settings):
    alias_request = submit(users["supervisor"])
    settings.VICIDIAL_API_URL = ""
    check = checks_by_key(alias_request)["parameters"]
    assert not check.ok
    assert check.detail == "The portal's settings cannot make it: VICIDIAL_API_URL is not set"


def test_a_disable_sends_only_the_alias_and_checks_no_phones(users, simulator):
    alias = created_alias(users)
    disable = services.alias_disable_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Gone."
    )
    checks = checks_by_key(disable)
    assert list(checks) == ["circuit", "parameters"]
    names = [name for name, _ in checks["parameters"].fields]
    assert names == ["function", "user", "pass", "alias_id", "delete_alias", "source"]


def test_without_a_database_there_is_no_database_check(users):
    assert "database" not in checks_by_key(submit(users["supervisor"]))


def test_an_add_needs_the_alias_id_free_in_vicidial(users, settings, vicidial_db):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    alias_request = submit(users["supervisor"])
    free = checks_by_key(alias_request)["database"]
    assert (free.ok, free.label) == (True, "Alias ID sales_desk is free in VICIdial")
    assert free.detail == "VICIdial's database: it holds no alias 'sales_desk'."
    vicidial_db.add_alias("SALES_DESK", "Made by hand", "1003")
    taken = checks_by_key(alias_request)["database"]
    assert not taken.ok
    assert taken.detail == (
        "VICIdial's database: it holds alias 'SALES_DESK' named 'Made by hand' ringing 1003: "
        "the call would fail with PHONE ALIAS ALREADY EXISTS."
    )


def test_a_change_needs_vicidial_to_hold_what_the_inventory_holds(
    users, settings, simulator_on_mariadb, vicidial_db
):
    alias = created_alias(users, logins="cc100,bb100")
    change = services.alias_change_submit(
        requester=users["supervisor"],
        alias_pk=alias.pk,
        alias_name="Sales floor",
        phone_logins="cc100",
        justification="Smaller.",
    )
    same = checks_by_key(change)["database"]
    assert same.label == "VICIdial holds sales_desk as the inventory does"
    assert same.ok, same.detail
    vicidial_db.execute("UPDATE phones_alias SET logins_list = 'BB100,CC100'")
    assert checks_by_key(change)["database"].ok  # case and order do not matter
    vicidial_db.execute("UPDATE phones_alias SET alias_name = 'Changed by hand'")
    drifted = checks_by_key(change)["database"]
    assert not drifted.ok and drifted.detail.endswith("the portal and VICIdial disagree (drift).")
    vicidial_db.remove_alias("sales_desk")
    gone = checks_by_key(change)["database"]
    assert not gone.ok and "it holds no alias 'sales_desk'" in gone.detail


def test_an_unreachable_database_is_a_failed_check_with_a_short_timeout(
    users, settings, monkeypatch
):
    settings.VICIDIAL_DB_URL = "mysql://reader:Db-Secret-42@10.255.255.1:3306/asterisk"
    asked = {}

    def unreachable(**kwargs):
        asked.update(kwargs)
        raise pymysql.OperationalError(2003, "Can't connect to MySQL server (timed out)")

    monkeypatch.setattr(pymysql, "connect", unreachable)
    check = checks_by_key(submit(users["supervisor"]))["database"]
    assert asked["connect_timeout"] == asked["read_timeout"] == PAGE_READ_TIMEOUT
    assert not check.ok
    assert check.detail.startswith("VICIdial's database could not be read: Cannot read")
    assert "Db-Secret-42" not in check.detail


def test_the_approval_event_records_the_checks_it_was_shown(users, simulator):
    catalogue(("1001", "SIP"))
    alias_request = submit(users["supervisor"], logins="1001,1002")
    expected = [check.as_record() for check in preflight_checks(alias_request)]
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    approved = AuditEvent.objects.get(event_type=AuditEvent.Type.REQUEST_APPROVED)
    assert approved.changes["preflight"] == expected
    assert [c["ok"] for c in approved.changes["preflight"]] == [True, False, True, True]
    assert django_settings.VICIDIAL_API_PASS not in str(approved.changes)


def test_a_failing_check_does_not_block_the_approval(users, simulator):
    alias_request = submit(users["supervisor"], logins="1001")  # not in the catalogue
    assert not checks_by_key(alias_request)["phone:1001"].ok
    done = services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert done.get_status_display() == "Created in VICIdial"


@pytest.mark.parametrize("viewer, shown", [("admin", True), ("supervisor", False)])
def test_the_page_shows_the_checks_beside_the_approve_button(users, client_for, viewer, shown):
    catalogue(("1001", "SIP"))
    alias_request = submit(users["supervisor"], logins="1001,1002")
    response = client_for(viewer).get(reverse("aliases:request_detail", args=[alias_request.pk]))
    page = text_of(response)
    assert ("Checks before approving" in page) is shown
    if shown:
        assert "✓ OK Phone 1001 is in the catalogue SIP phone, extension 1001" in page
        assert "⚠ Warning Phone 1002 is in the catalogue Not in the phone catalogue" in page
        assert "What add_phone_alias will send" in page
        assert f"portal{alias_request.pk}" in page
        assert "A warning does not stop the approval" in page
    assert django_settings.VICIDIAL_API_PASS not in response.content.decode()


def test_the_page_survives_an_unreachable_database(users, client_for, settings, unused_port):
    settings.VICIDIAL_DB_URL = f"mysql://reader:Db-Secret-42@127.0.0.1:{unused_port}/asterisk"
    alias_request = submit(users["supervisor"])
    response = client_for("admin").get(reverse("aliases:request_detail", args=[alias_request.pk]))
    assert response.status_code == 200
    assert "⚠ Warning Alias ID sales_desk is free in VICIdial VICIdial's database could not" in (
        text_of(response)
    )
    assert "Db-Secret-42" not in response.content.decode()


def test_the_approval_reads_vicidials_database_before_its_transaction(
    transactional_db, users, simulator_on_mariadb, monkeypatch
):
    in_transaction = []
    real_fetch = preflight.fetch_alias

    def spy(*args, **kwargs):
        in_transaction.append(connection.in_atomic_block)
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(preflight, "fetch_alias", spy)
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert in_transaction == [False]
    approved = AuditEvent.objects.get(event_type=AuditEvent.Type.REQUEST_APPROVED)
    database = [c for c in approved.changes["preflight"] if c["check"] == "database"]
    assert database == [
        {
            "check": "database",
            "ok": True,
            "detail": "VICIdial's database: it holds no alias 'sales_desk'.",
        }
    ]
