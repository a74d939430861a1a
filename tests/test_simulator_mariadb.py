"""The simulator keeping VICIdial's tables in a real MariaDB: what its API did is what the
portal's read-only database reads show, and it still answers byte for byte like the real server."""

import io
import secrets
import threading

import pymysql
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from aliases.management.commands.vicidial_simulator import Command
from aliases.simulator import (
    API_PATH,
    DEMO_PHONES,
    MariaDBStore,
    SimAlias,
    SimulatorState,
    StoreError,
    VicidialSimulator,
    demo_state,
)
from aliases.vicidial import CallResult, VicidialClient
from aliases.vicidial_db import (
    VicidialAliasRow,
    VicidialDatabase,
    fetch_alias,
    fetch_aliases,
    fetch_phone_logins,
)

from .base import submit
from .test_simulator import CASES, SETUPS, Setup, fixture_state
from .vicidial_mariadb import MARIADB

# Every case that reads or writes phones or aliases (NL*: non-Latin mode is not simulated).
STORE_CASES = [name for name in CASES if name[0] in "AU" or name == "X1b"]


@pytest.fixture(scope="module")
def server():
    with VicidialSimulator() as running:
        yield running


def post(url: str, **fields: str) -> requests.Response:
    fields = {"source": "test", "user": "6666", "pass": "1234", **fields}
    return requests.post(url, data=fields, timeout=5)


def add(url: str, alias_id: str, alias_name: str = "XYZ testing", logins: str = "cc100,bb100"):
    return post(
        url,
        function="add_phone_alias",
        alias_id=alias_id,
        alias_name=alias_name,
        phone_logins=logins,
    )


def update(url: str, alias_id: str, **fields: str) -> requests.Response:
    return post(url, function="update_phone_alias", alias_id=alias_id, **fields)


@pytest.fixture
def sim(server, vicidial_db):
    """The fixture cases' VICIdial (users 6666 and 7777, the demo phones) on `vicidial_db`."""
    server.state = fixture_state(Setup(), db_url=vicidial_db.writer_url)
    yield server
    server.state.close()


@pytest.fixture
def portal_view(vicidial_db):
    """The database as the portal reads it: the read-only account."""
    return VicidialDatabase.from_url(vicidial_db.url)


@pytest.mark.parametrize("name", STORE_CASES)
def test_answers_and_rows_match_the_memory_simulator_and_the_real_server(server, vicidial_db, name):
    case, setup = CASES[name], SETUPS.get(name, Setup())
    outcomes = []
    for db_url in (None, vicidial_db.writer_url):
        server.state = fixture_state(setup, db_url=db_url)
        try:
            response = requests.post(server.url, params=setup.query, data=case["params"], timeout=5)
            outcomes.append((response.status_code, response.content, dict(server.state.aliases)))
        finally:
            server.state.close()
    in_memory, on_mariadb = outcomes
    rows = fetch_aliases(VicidialDatabase.from_url(vicidial_db.url))
    assert on_mariadb[2] == {row.alias_id.lower(): SimAlias(*row) for row in rows}
    assert on_mariadb[:2] == (case["http_status"], case["body"].encode("utf-8"))
    assert on_mariadb == in_memory


def test_an_alias_added_over_http_is_the_row_the_portal_reads(simulator_on_mariadb, portal_view):
    reply = VicidialClient().add_phone_alias(
        alias_id="xyz100", alias_name="XYZ testing", phone_logins=["cc100", "bb100"], reference="1"
    )
    assert reply.result is CallResult.SUCCEEDED
    row = VicidialAliasRow("xyz100", "XYZ testing", "cc100,bb100", "---ALL---")
    assert fetch_alias(portal_view, "XYZ100") == row
    assert fetch_aliases(portal_view) == [row]
    assert fetch_phone_logins(portal_view) == {phone.login.lower() for phone in DEMO_PHONES}


def test_update_changes_only_the_columns_sent(sim, vicidial_db, portal_view):
    vicidial_db.add_alias("xyz100", "Old name", "cc100")
    vicidial_db.execute("UPDATE phones_alias SET user_group = 'SALES'")

    assert update(sim.url, "XYZ100", alias_name="New name").text.startswith("SUCCESS")
    assert vicidial_db.alias("xyz100") == ("xyz100", "New name", "cc100", "SALES")

    assert update(sim.url, "xyz100", phone_logins="1001,1002").text.startswith("SUCCESS")
    assert fetch_alias(portal_view, "xyz100") == ("xyz100", "New name", "1001,1002", "SALES")
    assert sim.state.alias("xyz100") == SimAlias("xyz100", "New name", "1001,1002", "SALES")


def test_delete_removes_the_row(sim, vicidial_db, portal_view):
    vicidial_db.add_alias("xyz100", "Old name", "cc100")
    vicidial_db.add_alias("xyz200", "Stays", "cc100")
    response = update(sim.url, "XYZ100", delete_alias="Y")
    assert (
        response.text == "SUCCESS: update_phone_alias PHONE ALIAS HAS BEEN DELETED - 6666|XYZ100\n"
    )
    assert fetch_alias(portal_view, "xyz100") is None
    assert [row.alias_id for row in fetch_aliases(portal_view)] == ["xyz200"]


def test_an_alias_made_in_vicidial_itself_already_exists_ignoring_case(sim, vicidial_db):
    vicidial_db.add_alias("Sales_Desk", "Made by hand", "1001")
    response = add(sim.url, "sales_desk")
    assert response.text == "ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|sales_desk\n"
    assert vicidial_db.alias("sales_desk") == ("Sales_Desk", "Made by hand", "1001", "---ALL---")


def test_phone_logins_are_checked_against_the_phones_table(sim, vicidial_db):
    assert add(sim.url, "one", logins="cc100,zz999").text.endswith(
        "PHONE DOES NOT EXIST: |6666|zz999\n"
    )
    vicidial_db.add_phone("zz999")
    assert add(sim.url, "one", logins="CC100,zz999").text.startswith("SUCCESS")
    vicidial_db.remove_phone("cc100")
    assert add(sim.url, "two", logins="bb100,cc100").text.endswith(
        "PHONE DOES NOT EXIST: |6666|cc100\n"
    )
    too_long = "a" * 16  # phones.login is VARCHAR(15)
    assert add(sim.url, "three", logins=too_long).text.endswith(f"|6666|{too_long}\n")
    assert update(sim.url, "one", phone_logins="bb100,").text.endswith("DOES NOT EXIST: |6666|\n")
    assert vicidial_db.alias("one")[2] == "CC100,zz999"


def test_over_long_values_fail_in_strict_mode_and_are_cut_in_lenient_mode(server, vicidial_db):
    server.state = fixture_state(Setup(), db_url=vicidial_db.writer_url)
    try:
        response = add(server.url, "x" * 21)
        assert (response.status_code, response.text) == (500, "")
        assert vicidial_db.execute("SELECT COUNT(*) FROM phones_alias") == [(0,)]
    finally:
        server.state.close()
    server.state = fixture_state(Setup(strict_sql=False), db_url=vicidial_db.writer_url)
    try:
        assert add(server.url, "x" * 21, alias_name="N" * 60).text.startswith("SUCCESS")
        assert vicidial_db.alias("x" * 20) == ("x" * 20, "N" * 50, "cc100,bb100", "---ALL---")
    finally:
        server.state.close()


def test_a_failing_database_answers_500_with_an_empty_body(sim, vicidial_db):
    vicidial_db.execute("DROP TABLE phones_alias")
    response = add(sim.url, "xyz100")
    assert (response.status_code, response.text) == (500, "")
    assert post(sim.url, function="version").status_code == 200  # no database needed


def test_the_state_mappings_read_and_write_the_tables(sim, vicidial_db):
    state = sim.state
    vicidial_db.add_alias("Xyz100", "One", "cc100")
    assert ("xyz100" in state.aliases, list(state.aliases), len(state.phones)) == (
        True,
        ["xyz100"],
        len(DEMO_PHONES),
    )
    assert "CC100" in state.phones and "zz999" not in state.phones
    assert state.phones["1002"].protocol == "IAX2"
    state.add_phone("1002", protocol="SIP")  # replaces the phone with that login
    assert (state.phones["1002"].protocol, len(state.phones)) == ("SIP", len(DEMO_PHONES))
    state.reset()
    assert (dict(state.aliases), len(state.phones)) == ({}, len(DEMO_PHONES))
    state.add_alias("a1", "A", "cc100")
    state.aliases.clear()  # as tests remove an alias behind the portal's back
    assert vicidial_db.execute("SELECT COUNT(*) FROM phones_alias") == [(0,)]


@pytest.fixture
def fresh_database_url():
    """A database name that does not exist yet; dropped afterwards."""
    name = f"sim_simdb_{secrets.token_hex(6)}"
    yield f"mysql://root@127.0.0.1:3306/{name}"
    admin = pymysql.connect(**MARIADB, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def test_demo_state_makes_database_and_tables_and_keeps_aliases_on_restart(fresh_database_url):
    state = demo_state(user="apiuser", password="pw", db_url=fresh_database_url)
    state.add_alias("kept", "Kept", "1001")
    state.close()

    again = demo_state(user="apiuser", password="pw", db_url=fresh_database_url)
    try:
        assert again.store.execute("SELECT COUNT(*) FROM phones") == [(len(DEMO_PHONES),)]
        assert dict(again.aliases) == {"kept": SimAlias("kept", "Kept", "1001")}
        assert str(again.store) == f"MariaDB {fresh_database_url}"
    finally:
        again.close()


def test_store_errors_never_show_the_database_password():
    with pytest.raises(StoreError) as raised:
        MariaDBStore("mysql://nosuch:Pw-secret-981@127.0.0.1:3306/sim_simdb_none")
    assert "Access denied" in str(raised.value)
    assert "Pw-secret-981" not in str(raised.value)


class _Output(io.StringIO):
    """Command output that says when the simulator has started."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def write(self, text: str) -> int:
        if "kept in" in text:
            self.started.set()
        return super().write(text)


def test_management_command_keeps_its_state_in_the_database_given(
    vicidial_db, settings, unused_port
):
    settings.VICIDIAL_API_USER, settings.VICIDIAL_API_PASS = "apiuser", "Pw-secret-42"
    out = _Output()
    command = Command(stdout=out)
    arguments = ("--port", str(unused_port), "--db-url", vicidial_db.writer_url)
    running = threading.Thread(target=call_command, args=(command, *arguments))
    running.start()
    try:
        assert out.started.wait(timeout=10)
        url = f"http://127.0.0.1:{unused_port}{API_PATH}"
        fields = {"user": "apiuser", "pass": "Pw-secret-42", "source": "demo"}
        response = requests.post(
            url,
            data={"function": "add_phone_alias", "alias_id": "cmd1", "alias_name": "By command"}
            | {"phone_logins": "2002"}
            | fields,
            timeout=5,
        )
    finally:
        command.stop_requested.set()
        running.join(timeout=5)
    assert not running.is_alive() and response.text.startswith("SUCCESS")
    assert vicidial_db.alias("cmd1") == ("cmd1", "By command", "2002", "---ALL---")
    assert f"kept in MariaDB {vicidial_db.writer_url}" in out.getvalue()
    assert "Pw-secret-42" not in out.getvalue()


def test_management_command_refuses_a_database_it_cannot_use(settings, unused_port):
    command = Command(stdout=io.StringIO())
    command.stop_requested.set()  # were it to start anyway, it stops at once
    url = "mysql://nosuch:Pw-x-77@127.0.0.1:3306/x"
    with pytest.raises(CommandError, match="Cannot use the database") as raised:
        call_command(command, "--port", str(unused_port), "--db-url", url)
    assert "Pw-x-77" not in str(raised.value)


def test_the_tables_refuse_or_cut_over_long_rows_written_directly(vicidial_db):
    strict = SimulatorState(db_url=vicidial_db.writer_url)
    lenient = SimulatorState(db_url=vicidial_db.writer_url, strict_sql=False)
    try:
        with pytest.raises(StoreError, match="Data too long"):
            strict.add_alias("y" * 21, "Too long", "cc100")
        lenient.add_alias("y" * 21, "Cut", "cc100")
        assert vicidial_db.alias("y" * 20) == ("y" * 20, "Cut", "cc100", "---ALL---")
    finally:
        strict.close()
        lenient.close()


def test_an_approved_request_lands_in_the_database_the_portal_reads(
    simulator_on_mariadb, users, client_for, settings
):
    alias_request = submit(users["supervisor"], logins="1001,cc100")
    response = client_for("admin").post(
        reverse("aliases:request_approve", args=[alias_request.pk]), {"note": "ok"}
    )

    alias_request.refresh_from_db()
    assert (response.status_code, alias_request.status) == (302, "succeeded")
    assert fetch_alias(VicidialDatabase.from_url(settings.VICIDIAL_DB_URL), "sales_desk") == (
        "sales_desk",
        "Sales desk",
        "1001,cc100",
        "---ALL---",
    )
