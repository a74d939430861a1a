"""Unknown outcomes settled from VICIdial's own database: the simulator keeps its aliases in a
real MariaDB, the portal reads it through a read-only account, and the clock is moved past
the settling delay instead of waited for."""

from datetime import timedelta

import pytest
import time_machine
from django.core.checks import run_checks
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from aliases import services
from aliases.errors import NoVicidialDatabase
from aliases.management.commands import reconcile_inflight
from aliases.models import Alias, AliasRequest, AuditEvent
from aliases.services import db_verification
from aliases.services.db_verification import VerificationNotDue, settle_delay
from aliases.simulator import Fault

from .base import submit
from .inventory_helpers import created_alias, disabled_alias, text_of

Status = AliasRequest.Status
Kind = AliasRequest.Kind
VERIFIED = AuditEvent.Type.REQUEST_VERIFIED_FROM_DATABASE


def approve(alias_request: AliasRequest, admin) -> AliasRequest:
    return services.alias_request_approve(request_id=alias_request.pk, actor=admin)


def unknown(simulator, users, alias_request: AliasRequest, *, done: bool) -> AliasRequest:
    """Approved, and the connection reset after VICIdial read the call: it did the work
    (done) or not, and the portal cannot tell."""
    simulator.state.inject(Fault(reset=True, process=done))
    result = approve(alias_request, users["admin"])
    assert result.status == Status.NEEDS_VERIFICATION, result.outcome_reason
    return result


def after_the_delay(alias_request: AliasRequest):
    """The clock just past the request's settling delay."""
    due = db_verification.verification_due_at(alias_request)
    return time_machine.travel(due + timedelta(seconds=1))


def verify(alias_request: AliasRequest, actor=None) -> AliasRequest:
    return services.alias_request_verify_from_database(request_id=alias_request.pk, actor=actor)


def request_of_kind(kind: str, users) -> AliasRequest:
    """A pending request of `kind` for sales_desk (1001, 1002), made with the simulator."""
    supervisor = users["supervisor"]
    if kind == Kind.ADD:
        return submit(supervisor, logins="1001,1002")
    if kind == Kind.ENABLE:
        alias = disabled_alias(users)
        return services.alias_enable_submit(
            requester=supervisor, alias_pk=alias.pk, justification="Back."
        )
    alias = created_alias(users)
    if kind == Kind.DISABLE:
        return services.alias_disable_submit(
            requester=supervisor, alias_pk=alias.pk, justification="Gone."
        )
    return services.alias_change_submit(
        requester=supervisor,
        alias_pk=alias.pk,
        alias_name="Sales floor",
        phone_logins="1002,1003",
        justification="Moved.",
    )


INVENTORY_AFTER = {
    Kind.ADD: ("active", "Sales desk", ["1001", "1002"]),
    Kind.CHANGE: ("active", "Sales floor", ["1002", "1003"]),
    Kind.DISABLE: ("disabled", "Sales desk", ["1001", "1002"]),
    Kind.ENABLE: ("active", "Sales desk", ["1001", "1002"]),
}
# What the inventory shows when the request was not carried out (None: no row at all).
INVENTORY_BEFORE = {
    Kind.ADD: None,
    Kind.CHANGE: ("active", "Sales desk", ["1001", "1002"]),
    Kind.DISABLE: ("active", "Sales desk", ["1001", "1002"]),
    Kind.ENABLE: ("disabled", "Sales desk", ["1001", "1002"]),
}


def inventory() -> tuple[str, str, list[str]] | None:
    alias = Alias.objects.filter(alias_id__iexact="sales_desk").first()
    if alias is None:
        return None
    return alias.state, alias.alias_name, alias.logins_in_order()


@pytest.mark.parametrize("kind", Kind.values)
def test_the_requested_state_in_the_database_means_done(kind, users, simulator_on_mariadb):
    pending = request_of_kind(kind, users)
    waiting = unknown(simulator_on_mariadb, users, pending, done=True)
    assert inventory() == INVENTORY_BEFORE[kind]  # an unknown outcome changes nothing
    with after_the_delay(waiting):
        settled = verify(waiting)
    assert settled.status == Status.SUCCEEDED
    assert settled.outcome_reason.startswith("Verified from VICIdial's database: ")
    assert inventory() == INVENTORY_AFTER[kind]
    event = AuditEvent.objects.get(request=settled, event_type=VERIFIED)
    assert event.outcome == Status.SUCCEEDED
    assert event.actor is None  # the database decided, not a person
    assert event.changes["status"] == [Status.NEEDS_VERIFICATION, Status.SUCCEEDED]
    assert event.changes["found"] == "intended"
    row = simulator_on_mariadb.state.alias("sales_desk")
    if kind == Kind.DISABLE:
        assert row is None and event.changes["evidence"] is None
    else:
        assert event.changes["evidence"] == {
            "alias_id": "sales_desk",
            "alias_name": INVENTORY_AFTER[kind][1],
            "logins_list": ",".join(INVENTORY_AFTER[kind][2]),
            "user_group": "---ALL---",
        }
    assert event.changes["inventory"]["alias"] == settled.alias_record_id


@pytest.mark.parametrize("kind", Kind.values)
def test_the_earlier_state_in_the_database_means_not_done(kind, users, simulator_on_mariadb):
    waiting = unknown(simulator_on_mariadb, users, request_of_kind(kind, users), done=False)
    with after_the_delay(waiting):
        settled = verify(waiting)
    assert settled.status == Status.FAILED
    assert settled.outcome_reason.startswith(
        "Verified from VICIdial's database: the change was not made ("
    )
    assert inventory() == INVENTORY_BEFORE[kind]
    event = AuditEvent.objects.get(request=settled, event_type=VERIFIED)
    assert (event.outcome, event.changes["found"]) == (Status.FAILED, "previous")
    assert "inventory" not in event.changes


def test_logins_compare_without_case_or_order_and_names_exactly(
    users, simulator_on_mariadb, vicidial_db
):
    waiting = unknown(
        simulator_on_mariadb, users, submit(users["supervisor"], logins="cc100,bb100"), done=False
    )
    vicidial_db.add_alias("SALES_DESK", "Sales desk", "BB100,CC100")  # as someone made it by hand
    with after_the_delay(waiting):
        assert verify(waiting).status == Status.SUCCEEDED

    other = unknown(
        simulator_on_mariadb, users, submit(users["supervisor"], alias_id="night"), done=False
    )
    vicidial_db.add_alias("night", "SALES DESK", "1001,1002")
    with after_the_delay(other):
        assert verify(other).status == Status.NEEDS_VERIFICATION


def test_neither_state_leaves_it_to_an_admin_and_says_so_once(
    users, simulator_on_mariadb, vicidial_db, client_for
):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=False)
    vicidial_db.add_alias("sales_desk", "Someone else's", "1003")
    with after_the_delay(waiting):
        stays = verify(waiting)
        again = services.alias_requests_verify_from_database()
    assert stays.status == Status.NEEDS_VERIFICATION
    assert stays.outcome_reason.startswith(
        "VICIdial's database shows neither the requested nor the earlier state of the alias "
        "(it holds alias 'sales_desk' named \"Someone else's\" ringing 1003): an admin decides."
    )
    assert again == []  # the same finding again records nothing new
    events = AuditEvent.objects.filter(request=waiting, event_type=VERIFIED)
    assert [(e.outcome, e.changes["found"]) for e in events] == [
        (Status.NEEDS_VERIFICATION, "neither")
    ]
    assert inventory() is None
    page = text_of(client_for("admin2").get(reverse("aliases:request_detail", args=[waiting.pk])))
    assert "VICIdial's database shows neither" in page
    assert "Record the outcome" in page  # the admin's way forward stays


def test_nothing_is_read_before_the_settling_delay(users, simulator_on_mariadb, monkeypatch):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    reads = []
    monkeypatch.setattr(db_verification, "fetch_alias", lambda *a, **k: reads.append(a))
    due = db_verification.verification_due_at(waiting)
    call = waiting.calls.get()
    assert due == call.finished_at + timedelta(seconds=3 + 10)  # the deadline, plus 10 s
    with time_machine.travel(due - timedelta(seconds=1)):
        with pytest.raises(VerificationNotDue, match="checked only after"):
            verify(waiting)
        assert services.alias_requests_verify_from_database() == []
    assert reads == []
    waiting.refresh_from_db()
    assert waiting.status == Status.NEEDS_VERIFICATION
    assert not AuditEvent.objects.filter(event_type=VERIFIED).exists()


def test_an_unreadable_database_leaves_it_with_the_reason(
    users, simulator_on_mariadb, settings, unused_port
):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    settings.VICIDIAL_DB_URL = f"mysql://reader:Db-Secret-42@127.0.0.1:{unused_port}/asterisk"
    with after_the_delay(waiting):
        stays = verify(waiting)
    assert stays.status == Status.NEEDS_VERIFICATION
    assert stays.outcome_reason.startswith("VICIdial's database could not be read (Cannot read")
    assert "Db-Secret-42" not in stays.outcome_reason
    event = AuditEvent.objects.get(event_type=VERIFIED)
    assert event.changes == {"found": "unreadable", "evidence": None}
    assert "Db-Secret-42" not in event.reason


def test_a_server_without_database_is_left_to_an_admin(users, simulator):
    waiting = unknown(simulator, users, submit(users["supervisor"]), done=True)
    with after_the_delay(waiting):
        with pytest.raises(NoVicidialDatabase, match="VICIDIAL_DB_URL"):
            verify(waiting)
        assert services.alias_requests_verify_from_database() == []


def test_a_request_settled_while_the_database_was_read_is_left_alone(
    users, simulator_on_mariadb, monkeypatch
):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    real_fetch = db_verification.fetch_alias

    def admin_settles_meanwhile(*args, **kwargs):
        services.alias_request_settle(
            request_id=waiting.pk, actor=users["admin2"], done_in_vicidial=False, note="Not there."
        )
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(db_verification, "fetch_alias", admin_settles_meanwhile)
    with after_the_delay(waiting):
        settled = verify(waiting)
    assert settled.status == Status.FAILED  # the admin's word stands
    assert not AuditEvent.objects.filter(event_type=VERIFIED).exists()


def test_only_deciders_may_ask_and_the_requester_admin_may(users, simulator_on_mariadb):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    with after_the_delay(waiting):
        with pytest.raises(PermissionDenied):
            verify(waiting, actor=users["supervisor"])
        assert verify(waiting, actor=users["admin"]).status == Status.SUCCEEDED
    event = AuditEvent.objects.get(event_type=VERIFIED)
    assert event.actor == users["admin"]


def test_reconcile_inflight_settles_due_requests_after_its_own_work(
    users, simulator_on_mariadb, capsys
):
    done = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    not_done = unknown(
        simulator_on_mariadb, users, submit(users["supervisor"], alias_id="night"), done=False
    )
    call_command("reconcile_inflight")
    assert "0 request(s) checked in VICIdial's database." in capsys.readouterr().out
    with after_the_delay(not_done):
        call_command("reconcile_inflight")
    out = capsys.readouterr().out
    assert f"#{done.pk} sales_desk: created in vicidial: Verified from VICIdial's" in out
    assert f"#{not_done.pk} night: failed in vicidial: Verified from VICIdial's" in out
    assert "2 request(s) checked in VICIdial's database." in out
    events = AuditEvent.objects.filter(event_type=VERIFIED)
    assert {(e.actor, e.user_agent) for e in events} == {(None, "manage.py reconcile_inflight")}


def test_reconcile_inflight_every_runs_again_after_each_pause(db, monkeypatch, capsys):
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 2:
            raise KeyboardInterrupt  # how the demo stops it

    monkeypatch.setattr(reconcile_inflight.time, "sleep", pause)
    call_command("reconcile_inflight", "--every", "5")  # Ctrl-C ends it without a traceback
    assert pauses == [5, 5]
    out = capsys.readouterr().out
    assert out.count("checked in VICIdial's database") == 2
    assert out.endswith("Stopped.\n")


def test_reconcile_inflight_every_needs_a_positive_pause(db):
    with pytest.raises(CommandError, match="--every must be at least 1"):
        call_command("reconcile_inflight", "--every", "0")


def test_the_page_says_when_and_the_button_checks(users, simulator_on_mariadb, client_for):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    page_url = reverse("aliases:request_detail", args=[waiting.pk])
    url = reverse("aliases:request_verify_db", args=[waiting.pk])
    admin = client_for("admin2")
    due = db_verification.shown_time(db_verification.verification_due_at(waiting))
    page = text_of(admin.get(page_url))
    assert f"VICIdial's database will be checked after {due}" in page
    assert "Check VICIdial's database now" in page
    supervisor_page = text_of(client_for("supervisor").get(page_url))
    assert f"will be checked after {due}" in supervisor_page
    assert "Check VICIdial's database now" not in supervisor_page

    early = admin.post(url, follow=True)
    assert f"VICIdial's database is checked only after {due}" in text_of(early)
    with after_the_delay(waiting):
        response = admin.post(url, follow=True)
    assert response.redirect_chain[-1][0] == page_url
    assert "Checked VICIdial's database. Status: Created in VICIdial." in text_of(response)
    waiting.refresh_from_db()
    assert waiting.status == Status.SUCCEEDED
    event = AuditEvent.objects.get(event_type=VERIFIED)
    assert event.actor == users["admin2"]
    assert event.source_ip == "127.0.0.1"


def test_the_button_is_a_post_for_deciders_only(users, simulator_on_mariadb, client_for, client):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    url = reverse("aliases:request_verify_db", args=[waiting.pk])
    assert client_for("admin2").get(url).status_code == 405
    assert client.post(url).status_code == 302 and "login" in client.post(url)["Location"]
    assert client_for("supervisor").post(url).status_code == 403
    assert client_for("auditor").post(url).status_code == 403
    missing = reverse("aliases:request_verify_db", args=[waiting.pk + 1000])
    assert client_for("admin2").post(missing).status_code == 404
    assert not AuditEvent.objects.filter(event_type=VERIFIED).exists()


def test_the_settling_delay_is_configurable_per_server(settings):
    assert settle_delay("default") == timedelta(seconds=13)
    settings.VICIDIAL_SETTLE_DELAY = "45"
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": "http://127.0.0.1:9/x", "API_PASS": "x", "SETTLE_DELAY": "60"}
    }
    assert settle_delay("default") == timedelta(seconds=45)
    assert settle_delay("east") == timedelta(seconds=60)


def test_a_settling_delay_not_longer_than_the_deadline_is_refused(settings):
    settings.VICIDIAL_SETTLE_DELAY = "3"  # the test deadline is 3 s
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": "http://127.0.0.1:9/x", "API_PASS": "x", "SETTLE_DELAY": "soon"}
    }
    found = {m.id: m.msg for m in run_checks() if m.id in ("aliases.E030", "aliases.E031")}
    assert found == {
        "aliases.E031": (
            "VICIDIAL_SETTLE_DELAY (3 s) must be longer than VICIDIAL_TOTAL_DEADLINE (3 s): "
            "a call may still be changing VICIdial until its deadline."
        ),
        "aliases.E030": "VICIDIAL_EAST_SETTLE_DELAY must be a number of seconds.",
    }
    settings.VICIDIAL_SETTLE_DELAY = "3.5"
    settings.VICIDIAL_SERVERS = {}
    assert not [m for m in run_checks() if m.id in ("aliases.E030", "aliases.E031")]


def test_each_request_is_checked_in_its_own_servers_database(users, simulator_on_mariadb, settings):
    settings.VICIDIAL_SERVERS = {
        "east": {
            "API_URL": simulator_on_mariadb.url,
            "API_PASS": settings.VICIDIAL_API_PASS,
            "DB_URL": settings.VICIDIAL_DB_URL,
        }
    }
    settings.VICIDIAL_DB_URL = ""  # the default server's database is not readable
    east = services.alias_request_submit(
        requester=users["supervisor"],
        alias_id="east_desk",
        alias_name="East desk",
        phone_logins="1001",
        justification="East.",
        server="east",
    )
    waiting_east = unknown(simulator_on_mariadb, users, east, done=True)
    waiting_here = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    with after_the_delay(waiting_here):
        assert services.alias_requests_verify_from_database() == [waiting_east]
    waiting_east.refresh_from_db()
    waiting_here.refresh_from_db()
    assert waiting_east.status == Status.SUCCEEDED
    assert Alias.objects.get(alias_id="east_desk").server == "east"
    assert waiting_here.status == Status.NEEDS_VERIFICATION


def test_the_database_is_read_with_no_transaction_open(
    transactional_db, users, simulator_on_mariadb, monkeypatch
):
    waiting = unknown(simulator_on_mariadb, users, submit(users["supervisor"]), done=True)
    in_transaction = []
    real_fetch = db_verification.fetch_alias

    def spy(*args, **kwargs):
        in_transaction.append(connection.in_atomic_block)
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(db_verification, "fetch_alias", spy)
    with after_the_delay(waiting):
        assert verify(waiting).status == Status.SUCCEEDED
    assert in_transaction == [False]


def test_a_change_of_phones_settles_whatever_the_name_drifted_to(
    users, simulator_on_mariadb, vicidial_db
):
    alias = created_alias(users)
    pending = services.alias_change_submit(
        requester=users["supervisor"],
        alias_pk=alias.pk,
        alias_name=alias.alias_name,
        phone_logins="1002,1003",
        justification="Moved.",
    )
    waiting = unknown(simulator_on_mariadb, users, pending, done=True)
    # Renamed in VICIdial's own screens meanwhile: the change never sent a name.
    vicidial_db.execute("UPDATE phones_alias SET alias_name = 'Renamed by hand'")
    with after_the_delay(waiting):
        settled = verify(waiting)
    assert settled.status == Status.SUCCEEDED, settled.outcome_reason
