"""The life of a request over HTTP, as people click through it, against the simulated VICIdial
keeping its phones and aliases in a real MariaDB: answers lost in every way the portal can
lose one, settled later from VICIdial's own database; an enable refused for a phone gone
meanwhile and asked again with the phones corrected; and two servers with passwords of
their own, one of them wrong. Clocks are moved with time_machine, never waited for."""

import html
import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from aliases.models import AliasRequest, AuditEvent, VicidialCall
from aliases.services import calls, db_verification, queue
from aliases.services import requests as requests_service
from aliases.services.calls import longest_live_call
from aliases.simulator import Fault, VicidialSimulator, demo_state
from aliases.simulator.state import demo_phones

from .inventory_helpers import created_alias, disabled_alias, text_of

Status = AliasRequest.Status
Kind = AliasRequest.Kind
API_USER = "6666"  # settings.VICIDIAL_API_USER, echoed in VICIdial's answers
ACTIVE = "Active in VICIdial"
DISABLED = "Disabled (removed from VICIdial)"

# What the inventory's row shows (name, phones, state): after the request, and before it
# (None: the inventory does not list the alias).
SHOWN_AFTER = {
    Kind.ADD: ("Sales desk", "1001, 1002", ACTIVE),
    Kind.CHANGE: ("Sales floor", "1002, 1003", ACTIVE),
    Kind.DISABLE: ("Sales desk", "1001, 1002", DISABLED),
    Kind.ENABLE: ("Sales desk", "1001, 1002", ACTIVE),
}
SHOWN_BEFORE = {
    Kind.ADD: None,
    Kind.CHANGE: ("Sales desk", "1001, 1002", ACTIVE),
    Kind.DISABLE: ("Sales desk", "1001, 1002", ACTIVE),
    Kind.ENABLE: ("Sales desk", "1001, 1002", DISABLED),
}
# VICIdial's phones_alias row (name, logins_list) after, and before.
HELD_AFTER = {
    Kind.ADD: ("Sales desk", "1001,1002"),
    Kind.CHANGE: ("Sales floor", "1002,1003"),
    Kind.DISABLE: None,
    Kind.ENABLE: ("Sales desk", "1001,1002"),
}
HELD_BEFORE = {
    Kind.ADD: None,
    Kind.CHANGE: ("Sales desk", "1001,1002"),
    Kind.DISABLE: ("Sales desk", "1001,1002"),
    Kind.ENABLE: None,
}
DONE_SAYS = {
    Kind.ADD: "Verified from VICIdial's database: the alias was created (",
    Kind.CHANGE: "Verified from VICIdial's database: the change was made (",
    Kind.DISABLE: "Verified from VICIdial's database: the alias was removed (",
    Kind.ENABLE: "Verified from VICIdial's database: the alias was created again (",
}
NOT_DONE_SAYS = "Verified from VICIdial's database: the change was not made ("


# --- What a person sees and does -------------------------------------------------------------


def fill_and_post(client, url: str, **values):
    """GET the form, post what it shows (prefilled values, its one-time token) with `values`
    typed over it; the redirect it answers with."""
    form = client.get(url).context["form"]
    shown = {name: form[name].value() for name in form.fields}
    data = {name: value for name, value in shown.items() if value is not None}
    response = client.post(url, {**data, **values})
    assert response.status_code == 302, text_of(response)
    return response


def request_made_by(response) -> AliasRequest:
    return AliasRequest.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def ask_to_add(client, **values) -> AliasRequest:
    values = {
        "alias_id": "sales_desk",
        "alias_name": "Sales desk",
        "phone_logins": "1001, 1002",
        "justification": "A number for the sales team.",
        **values,
    }
    return request_made_by(fill_and_post(client, reverse("aliases:request_new"), **values))


def ask_for_alias(client, alias_pk: int, action: str, **values) -> AliasRequest:
    url = reverse(f"aliases:alias_{action}", args=[alias_pk])
    values.setdefault("justification", "Asked on the alias's page.")
    return request_made_by(fill_and_post(client, url, **values))


def request_page(client, alias_request: AliasRequest) -> str:
    response = client.get(reverse("aliases:request_detail", args=[alias_request.pk]))
    assert response.status_code == 200
    return response.content.decode()


def approve(client, alias_request: AliasRequest) -> str:
    """The admin presses Approve on the request's page; the text of the page it lands on."""
    url = reverse("aliases:request_approve", args=[alias_request.pk])
    page = request_page(client, alias_request)
    assert f'formaction="{url}"' in page
    # The form's hidden field too: the checks shown beside the button go into the record.
    shown = re.search(r'name="preflight_shown" value="([^"]*)"', page)[1]
    response = client.post(url, {"note": "Checked.", "preflight_shown": shown}, follow=True)
    alias_request.refresh_from_db()
    approved = alias_request.audit_events.get(event_type=AuditEvent.Type.REQUEST_APPROVED)
    assert "preflight_shown" not in approved.changes, approved.changes.get("preflight_shown")
    return text_of(response)


def check_the_database_now(client, alias_request: AliasRequest) -> str:
    url = reverse("aliases:request_verify_db", args=[alias_request.pk])
    page = request_page(client, alias_request)
    assert f'action="{url}"' in page
    assert "Check VICIdial's database now" in page
    response = client.post(url, follow=True)
    alias_request.refresh_from_db()
    return text_of(response)


def marked_html(page: str, testid: str) -> str:
    """The inside of the element marked data-testid=`testid`."""
    found = re.search(rf'<(\w+)[^>]*data-testid="{testid}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"no {testid} on the page"
    return found[2]


def marked_text(page: str, testid: str) -> str:
    return words_of(marked_html(page, testid))


def words_of(markup: str) -> str:
    """Markup as a person reads it: tags dropped, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def cells(row_html: str) -> list[str]:
    texts = [html.unescape(re.sub(r"<[^>]+>", " ", cell)) for cell in row_html.split("<td")[1:]]
    return [re.sub(r"\s+([,])", r"\1", " ".join(text.split(">", 1)[1].split())) for text in texts]


def inventory_shows(client, alias_id: str = "sales_desk") -> tuple[str, str, str] | None:
    """(name, phones, state) of the alias's row in the inventory list, None if not listed."""
    response = client.get(reverse("aliases:inventory"), {"alias_id": alias_id})
    page = response.content.decode()
    if 'data-testid="inventory-empty"' in page:
        return None
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = [cells(row) for row in body.split("<tr>")[1:]]
    ((listed_id, name, _server, phones, state, _origin, _open),) = rows
    assert listed_id.lower() == alias_id.lower()
    return name, phones, state


def alias_page_shows(client, alias_request: AliasRequest) -> tuple[str, str]:
    """(state, phones) on the alias's page, reached from the request's page as a person would."""
    page = request_page(client, alias_request)
    found = re.search(r'href="(/inventory/\d+/)">Open the alias in the inventory', page)
    assert found, "the request's page does not link its alias"
    alias_page = client.get(found[1]).content.decode()
    logins = re.findall(r"<code>(.*?)</code>", marked_html(alias_page, "alias-logins"))
    return marked_text(alias_page, "alias-state"), ", ".join(logins)


def held_in_vicidial(vicidial_db, alias_id: str = "sales_desk") -> tuple[str, str] | None:
    row = vicidial_db.alias(alias_id)
    return None if row is None else (row[1], row[2])


# --- Requests of each kind, and the ways an answer gets lost ----------------------------------


def pending_request(kind: str, users, client_for) -> AliasRequest:
    """A request of `kind` for sales_desk (1001, 1002), asked for on its page by a supervisor."""
    supervisor = client_for("supervisor")
    if kind == Kind.ADD:
        return ask_to_add(supervisor)
    if kind == Kind.ENABLE:
        return ask_for_alias(supervisor, disabled_alias(users).pk, "enable")
    alias = created_alias(users)
    if kind == Kind.DISABLE:
        return ask_for_alias(supervisor, alias.pk, "disable")
    return ask_for_alias(
        supervisor, alias.pk, "change", alias_name="Sales floor", phone_logins="1002, 1003"
    )


SECOND = timedelta(seconds=1)


def reconcile_at(moment) -> str:
    """What `manage.py reconcile_inflight` (as cron runs it) prints at `moment`."""
    out = io.StringIO()
    with time_machine.travel(moment, tick=False):
        call_command("reconcile_inflight", stdout=out)
    return out.getvalue()


class WorkerKilled(BaseException):
    """The portal's process dying mid-call, as seen from inside it: nothing catches it."""


def answer_lost(fault: str, *, done: bool, alias_request, admin, simulator, monkeypatch) -> None:
    """The admin approves and the answer is lost, VICIdial having done the work or not; the
    request is then waiting for someone to find out which."""
    if fault == "dead process":
        real_call = calls.operation_call

        def call_then_die(*args, **kwargs):
            if done:
                real_call(*args, **kwargs)  # VICIdial does it; the answer dies with the process
            raise WorkerKilled

        with monkeypatch.context() as patched:
            # The approval queues the call; the worker that takes it dies mid-call.
            patched.setattr(requests_service, "call_enqueue", lambda *args, **kwargs: None)
            admin.post(reverse("aliases:request_approve", args=[alias_request.pk]), {"note": ""})
        with monkeypatch.context() as patched, pytest.raises(WorkerKilled):
            patched.setattr(calls, "operation_call", call_then_die)
            queue.alias_request_call(alias_request.pk)
        alias_request.refresh_from_db()
        call = alias_request.calls.get()
        assert (alias_request.status, call.result) == (
            Status.CALLING,
            VicidialCall.Result.IN_FLIGHT,
        )
        last_touched = max(alias_request.updated_at, call.started_at)
        assert "0 stale request(s)" in reconcile_at(last_touched + longest_live_call() - SECOND)
        out = reconcile_at(last_touched + longest_live_call() + SECOND)
        assert "1 stale request(s) moved out of calling VICIdial." in out
        # Just moved: its settling delay starts now, so the same run does not read the database.
        assert "0 request(s) checked in VICIdial's database." in out
        alias_request.refresh_from_db()
        return
    if fault == "reset":
        simulator.state.inject(Fault(reset=True, process=done))
    else:
        simulator.state.inject(Fault(body="<html>oops</html>", process=done))
    assert "Approved. Result: Outcome unknown: needs verification." in approve(admin, alias_request)


FAULTS = ["reset", "garbage 200", "dead process"]


def lose_the_answer_and_check_the_database(
    kind, fault, done, users, client_for, simulator, vicidial_db, monkeypatch
) -> tuple[AliasRequest, str]:
    alias_request = pending_request(kind, users, client_for)
    admin = client_for("admin")
    answer_lost(
        fault,
        done=done,
        alias_request=alias_request,
        admin=admin,
        simulator=simulator,
        monkeypatch=monkeypatch,
    )
    assert alias_request.status == Status.NEEDS_VERIFICATION, alias_request.outcome_reason
    assert held_in_vicidial(vicidial_db) == (HELD_AFTER if done else HELD_BEFORE)[kind]
    # Unknown: the inventory stays as it was, and the page says when the database is read.
    assert inventory_shows(client_for("auditor")) == SHOWN_BEFORE[kind]
    checker = client_for("admin2")
    waiting = words_of(request_page(checker, alias_request))
    assert "Outcome unknown: needs verification" in waiting
    due = db_verification.verification_due_at(alias_request)
    assert f"will be checked after {db_verification.shown_time(due)}" in waiting
    with time_machine.travel(due + SECOND):
        page = check_the_database_now(checker, alias_request)
    return alias_request, page


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", Kind.values)
def test_a_lost_answer_for_work_done_is_verified_from_the_database(
    kind, fault, users, client_for, simulator_on_mariadb, vicidial_db, monkeypatch
):
    settled, page = lose_the_answer_and_check_the_database(
        kind, fault, True, users, client_for, simulator_on_mariadb, vicidial_db, monkeypatch
    )
    label = settled.get_status_display()
    assert settled.status == Status.SUCCEEDED
    assert f"Checked VICIdial's database. Status: {label}." in page
    assert DONE_SAYS[kind] in page
    assert marked_text(request_page(client_for("supervisor"), settled), "status") == label
    assert inventory_shows(client_for("auditor")) == SHOWN_AFTER[kind]
    state, phones = alias_page_shows(client_for("supervisor"), settled)
    assert (state, phones) == (SHOWN_AFTER[kind][2], SHOWN_AFTER[kind][1])


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", Kind.values)
def test_a_lost_answer_for_work_not_done_fails_and_leaves_the_inventory(
    kind, fault, users, client_for, simulator_on_mariadb, vicidial_db, monkeypatch
):
    settled, page = lose_the_answer_and_check_the_database(
        kind, fault, False, users, client_for, simulator_on_mariadb, vicidial_db, monkeypatch
    )
    assert settled.status == Status.FAILED
    assert "Checked VICIdial's database. Status: Failed in VICIdial." in page
    assert marked_text(request_page(client_for("supervisor"), settled), "outcome").startswith(
        NOT_DONE_SAYS
    )
    assert inventory_shows(client_for("auditor")) == SHOWN_BEFORE[kind]
    assert held_in_vicidial(vicidial_db) == HELD_BEFORE[kind]


# --- An enable for a phone VICIdial no longer has ----------------------------------------------


def test_an_enable_refused_for_a_removed_phone_succeeds_with_the_phones_corrected(
    users, client_for, simulator_on_mariadb, vicidial_db
):
    alias = disabled_alias(users)
    vicidial_db.remove_phone("1002")  # taken out of VICIdial while the alias was disabled
    supervisor, admin = client_for("supervisor"), client_for("admin")
    refused = ask_for_alias(supervisor, alias.pk, "enable")
    approve(admin, refused)
    assert refused.status == Status.FAILED
    page = request_page(supervisor, refused)
    assert marked_text(page, "status") == "Failed in VICIdial"
    assert marked_text(page, "outcome") == (
        f"ERROR: add_phone_alias PHONE DOES NOT EXIST: |{API_USER}|1002"
    )
    assert inventory_shows(supervisor) == ("Sales desk", "1001, 1002", DISABLED)
    assert held_in_vicidial(vicidial_db) is None

    url = reverse("aliases:alias_enable", args=[alias.pk])
    form = supervisor.get(url).context["form"]
    assert (form["alias_name"].value(), form["phone_logins"].value()) == (
        "Sales desk",
        "1001, 1002",
    )
    corrected = ask_for_alias(
        supervisor, alias.pk, "enable", alias_name="Sales team", phone_logins="1001, 1003"
    )
    assert "Approved. Result: Enabled: created in VICIdial again." in approve(admin, corrected)
    assert corrected.status == Status.SUCCEEDED
    assert inventory_shows(supervisor) == ("Sales team", "1001, 1003", ACTIVE)
    assert held_in_vicidial(vicidial_db) == ("Sales team", "1001,1003")


# --- Two servers, each with its own password ---------------------------------------------------

EAST_USER, EAST_PASS = "7777", "East-Api-Pass-93721"


@pytest.fixture
def east(settings, simulator_on_mariadb):
    """A second VICIdial whose API password the portal has wrong."""
    state = demo_state(user=EAST_USER, password=EAST_PASS, phones=demo_phones("east"))
    server = VicidialSimulator(state).start()
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": server.url, "API_USER": EAST_USER, "API_PASS": "Wr0ng-East-Pass-1"}
    }
    yield server
    server.stop()


def banners(page: str) -> list[str]:
    return re.findall(r"Calls to VICIdial server (\S+) are stopped\.", words_of(page))


def test_a_wrong_password_on_one_server_stops_only_that_server_until_resumed(
    client_for, simulator_on_mariadb, vicidial_db, east, settings
):
    supervisor, admin = client_for("supervisor"), client_for("admin")
    form_page = supervisor.get(reverse("aliases:request_new")).content.decode()
    select = re.search(r'<select name="server".*?</select>', form_page, re.S)
    assert select, "the add form offers no server to choose"
    assert re.findall(r'<option value="(\w+)"', select[0]) == ["default", "east"]

    on_east = ask_to_add(supervisor, server="east", alias_id="east_desk", phone_logins="3001")
    on_default = ask_to_add(supervisor, server="default", alias_id="main_desk")
    assert (on_east.server, on_default.server) == ("east", "default")

    refused = approve(admin, on_east)
    assert on_east.status == Status.FAILED
    assert "Approved. Result: Failed in VICIdial." in refused
    assert banners(refused) == ["east"]
    assert east.state.users[EAST_USER].failed_logins == 1
    assert east.state.alias("east_desk") is None

    # The default server is not affected.
    assert banners(approve(admin, on_default)) == ["east"]
    assert on_default.status == Status.SUCCEEDED
    assert held_in_vicidial(vicidial_db, "main_desk") == ("Sales desk", "1001,1002")
    home = admin.get(reverse("aliases:home")).content.decode()
    assert banners(home) == ["east"]

    banner = home.split('data-testid="circuit-banner"', 1)[1].split("</form>", 1)[0]
    assert f'action="{reverse("aliases:vicidial_resume")}"' in banner
    assert re.search(r'name="server" value="(\w+)"', banner)[1] == "east"
    assert "Resume calls to east" in banner
    settings.VICIDIAL_SERVERS = {
        "east": {**settings.VICIDIAL_SERVERS["east"], "API_PASS": EAST_PASS}
    }
    resumed = admin.post(reverse("aliases:vicidial_resume"), {"server": "east"}, follow=True)
    assert "Calls to VICIdial server east resumed." in text_of(resumed)
    assert banners(resumed.content.decode()) == []

    again = ask_to_add(supervisor, server="east", alias_id="east_desk", phone_logins="3001")
    assert "Approved. Result: Created in VICIdial." in approve(admin, again)
    assert east.state.alias("east_desk").logins_list == "3001"
