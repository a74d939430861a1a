"""The simulator against the real server's recorded answers, over real HTTP."""

import io
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from aliases.management.commands.vicidial_simulator import Command
from aliases.simulator import (
    API_PATH,
    DEMO_PHONES,
    Fault,
    SimAlias,
    SimulatorState,
    VicidialSimulator,
    demo_state,
    php_warnings,
)
from aliases.simulator import server as simulator_server_module

FIXTURES = json.loads(
    (Path(__file__).parent / "fixtures" / "vicidial-responses.json").read_text("utf-8")
)
CASES = {case["case"]: case for case in FIXTURES["cases"]}
NON_LATIN_REASON = (
    "use_non_latin=1 is not simulated: the portal rejects non-ASCII input before VICIdial"
)


@dataclass(frozen=True)
class Setup:
    """The server state a fixture case started from, as its description tells."""

    xyz100_exists: bool = False
    user_6666: dict = field(default_factory=dict)
    strict_sql: bool = True
    query: dict = field(default_factory=dict)


XYZ100 = Setup(xyz100_exists=True)
SETUPS = {
    "A2": XYZ100,
    "A2b": XYZ100,
    "A8": Setup(query={"alias_name": "FromGET"}),
    "A10": Setup(strict_sql=False),
    "A10b": Setup(strict_sql=False),
    "X3c": Setup(user_6666={"api_access": False}),
    "X3d": Setup(user_6666={"api_allowed_functions": " version add_lead "}),
    "X3e": Setup(user_6666={"active": False}),
    "U8": Setup(xyz100_exists=True, user_6666={"ast_delete_phones": False}),
    # Every other update case starts with xyz100 present; the rest start empty.
    **{name: XYZ100 for name in CASES if name.startswith("U") and name != "U8"},
}


def golden_params() -> list:
    skip_non_latin = [pytest.mark.skip(reason=NON_LATIN_REASON)]
    return [
        pytest.param(
            case, SETUPS.get(name, Setup()), id=name, marks=skip_non_latin * (name[:2] == "NL")
        )
        for name, case in CASES.items()
    ]


def fixture_state(setup: Setup, db_url: str | None = None) -> SimulatorState:
    state = SimulatorState(strict_sql=setup.strict_sql, db_url=db_url)
    state.add_user("6666", "1234", **setup.user_6666)
    state.add_user("7777", "1234", user_level=7)
    for phone in DEMO_PHONES:
        state.add_phone(phone.login, protocol=phone.protocol)
    if setup.xyz100_exists:
        state.add_alias("xyz100", "XYZ testing", "cc100,bb100")
    return state


def without_clock(body: str) -> str:
    return re.sub(r"DATE: [^|]*\|EPOCH: \d+", "DATE: -|EPOCH: -", body)


@pytest.fixture(scope="module")
def server():
    with VicidialSimulator() as running:
        yield running


@pytest.fixture
def sim(server):
    server.state = fixture_state(Setup())
    return server


@pytest.mark.parametrize(("case", "setup"), golden_params())
def test_simulator_answers_like_the_real_server(server, case, setup):
    server.state = fixture_state(setup)
    response = requests.post(server.url, params=setup.query, data=case["params"], timeout=5)
    assert response.status_code == case["http_status"]
    assert response.headers["Content-Type"] == case["content_type"]
    if case["params"][:1] == [["function", "version"]]:
        assert without_clock(response.text) == without_clock(case["body"])
    else:
        assert response.content == case["body"].encode("utf-8")


def test_the_golden_table_names_only_fixture_cases():
    assert len(CASES) == 74
    assert set(SETUPS) <= set(CASES)


def test_version_date_and_epoch_relate_as_on_the_real_server(sim):
    sim.state.clock = lambda: 1795724700.9
    body = requests.post(sim.url, data={"function": "version"}, timeout=5).text
    assert body == CASES["V1"]["body"]
    # The real server printed DATE as UTC of EPOCH although it reports TZ -5.00.
    date, epoch = re.search(r"DATE: ([^|]*)\|EPOCH: (\d+)", CASES["V4"]["body"]).groups()
    assert datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S") == date


def post(sim, **params):
    fields = {"source": "test", "user": "6666", "pass": "1234", **params}
    return requests.post(sim.url, data=fields, timeout=5)


def test_add_stores_the_filtered_values_with_the_all_group(sim):
    post(
        sim,
        function="add_phone_alias",
        alias_id="Help Desk!",
        alias_name="A&B",
        phone_logins="CC100",
    )
    assert sim.state.alias("HELPDESK") == SimAlias("HelpDesk", "AB", "CC100", "---ALL---")


def test_strict_sql_writes_nothing_and_lenient_truncates(sim):
    long_id = "abcdefghijklmnopqrstuvwxy"
    response = post(
        sim, function="add_phone_alias", alias_id=long_id, alias_name="n", phone_logins="cc100"
    )
    assert (response.status_code, response.text, sim.state.aliases) == (500, "", {})

    sim.state.strict_sql = False
    response = post(
        sim, function="add_phone_alias", alias_id=long_id, alias_name="n", phone_logins="cc100"
    )
    assert response.status_code == 200
    assert sim.state.alias(long_id[:20]).alias_id == long_id[:20]


def test_http_500_from_the_last_field_bug_still_creates_the_alias(sim):
    fields = [("source", "test"), ("function", "add_phone_alias"), ("user", "6666")]
    fields += [("pass", "1234"), ("alias_id", "obrien"), ("phone_logins", "cc100")]
    response = requests.post(sim.url, data=[*fields, ("alias_name", "O'Brien")], timeout=5)
    assert response.status_code == 500
    assert sim.state.alias("obrien").alias_name == "OBrien"


def test_update_and_delete_change_the_stored_alias(sim):
    sim.state.add_alias("xyz100", "XYZ testing", "cc100,bb100")
    post(
        sim,
        function="update_phone_alias",
        alias_id="XYZ100",
        alias_name="Renamed",
        phone_logins="1001",
    )
    assert sim.state.alias("xyz100") == SimAlias("xyz100", "Renamed", "1001")
    post(sim, function="update_phone_alias", alias_id="xyz100", phone_logins="c")
    assert sim.state.alias("xyz100").logins_list == "1001"
    post(sim, function="update_phone_alias", alias_id="xyz100", delete_alias="Y")
    assert sim.state.alias("xyz100") is None


def test_lockout_blocks_the_right_password_until_15_minutes_after_the_last_login(sim):
    now = [1_800_000_000.0]
    sim.state.clock = lambda: now[0]
    assert post(sim, function="unknown").text == "ERROR: NO FUNCTION SPECIFIED\n"
    for _ in range(10):
        assert post(sim, function="unknown", **{"pass": "wrong"}).text.endswith("|wrong|BAD|\n")
    locked = "ERROR: Too many login attempts, try again in 15 minutes: |6666|LOCK|\n"
    assert post(sim, function="unknown").text == locked
    now[0] += 15 * 60 - 1
    assert post(sim, function="unknown").text == locked
    now[0] += 1
    assert post(sim, function="unknown").text == "ERROR: NO FUNCTION SPECIFIED\n"


def test_no_lockout_without_a_recent_successful_login(sim):
    for _ in range(12):
        post(sim, function="unknown", **{"pass": "wrong"})
    assert post(sim, function="unknown").text == "ERROR: NO FUNCTION SPECIFIED\n"


def test_ip_allow_list(sim):
    sim.state.allowed_ips = {"10.0.0.9"}
    body = "ERROR: Your IP Address is not allowed: 127.0.0.1: |6666|IPBLOCK|\n"
    assert post(sim, function="add_phone_alias").text == body
    sim.state.allowed_ips = {"127.0.0.1"}
    assert "REQUIRED FIELDS" in post(sim, function="add_phone_alias").text


def test_query_string_and_records_of_requests(sim):
    url = sim.url + "?function=version&pass=fromquery"
    requests.post(url, data={"function": "coffee", "pass": "frombody"}, timeout=5)
    (received,) = sim.state.requests_received
    assert (received.method, received.params["function"], received.params["pass"]) == (
        "POST",
        "version",
        "fromquery",
    )
    assert received.body == b"function=coffee&pass=frombody"
    assert received.path == f"{API_PATH}?function=version&pass=fromquery"


def test_other_paths_are_not_found(sim):
    response = requests.get(sim.url.replace(API_PATH, "/vicidial/admin.php"), timeout=5)
    assert response.status_code == 404
    assert sim.state.requests_received == []


def test_fault_replaces_the_answer_for_the_next_request_only(sim):
    sim.state.inject(Fault(status=502, body=b"\xff\xfe garbage"))
    first = requests.post(sim.url, data={"function": "version"}, timeout=5)
    second = requests.post(sim.url, data={"function": "version"}, timeout=5)
    assert (first.status_code, first.content) == (502, b"\xff\xfe garbage")
    assert (second.status_code, second.text[:9]) == (200, "VERSION: ")


def test_fault_keeps_the_real_body_with_status_or_prefix(sim):
    sim.state.inject(Fault(status=500, prefix=php_warnings(3, last_line_break=False), times=2))
    response = post(
        sim, function="add_phone_alias", alias_id="xyz100", alias_name="X", phone_logins="cc100"
    )
    assert response.status_code == 500
    assert response.text.startswith("<br />\n<b>Warning</b>:  Undefined variable $x in <b>")
    assert response.text.endswith(
        "<br />SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|xyz100|X|cc100\n"
    )
    assert sim.state.fault is not None and sim.state.fault.times == 1
    sim.state.inject(Fault(status=418, process=False, times=None))
    post(sim, function="add_phone_alias", alias_id="xyz200", alias_name="X", phone_logins="cc100")
    post(sim, function="add_phone_alias", alias_id="xyz200", alias_name="X", phone_logins="cc100")
    assert sim.state.alias("xyz200") is None and sim.state.fault is not None


def test_reset_keeps_users_and_phones_but_forgets_everything_else(sim):
    sim.state.add_alias("xyz100", "x", "cc100")
    sim.state.inject(Fault(status=500, times=None))
    post(sim, function="version", **{"pass": "wrong"})
    post(sim, function="unknown", **{"pass": "wrong"})
    sim.state.reset()
    assert (sim.state.aliases, sim.state.requests_received, sim.state.fault) == ({}, [], None)
    assert sim.state.users["6666"].failed_logins == 0
    assert len(sim.state.phones) == len(DEMO_PHONES)
    sim.state.inject(Fault(status=500, times=None))
    sim.state.inject(None)
    assert post(sim, function="version").status_code == 200


def test_fault_resets_the_connection_after_doing_the_work(sim):
    sim.state.inject(Fault(reset=True))
    with pytest.raises(requests.ConnectionError) as raised:
        post(
            sim, function="add_phone_alias", alias_id="xyz100", alias_name="X", phone_logins="cc100"
        )
    assert isinstance(raised.value.args[0].args[1], ConnectionResetError)
    assert sim.state.alias("xyz100") is not None


def test_delays_are_bounded_and_end_when_the_simulator_stops(monkeypatch):
    monkeypatch.setattr(simulator_server_module, "MAX_FAULT_DELAY", 0.2)
    with VicidialSimulator() as sim:
        sim.state.inject(Fault(delay=3600))
        started = time.monotonic()
        assert requests.post(sim.url, data={"function": "version"}, timeout=5).ok
        assert time.monotonic() - started < 1

    monkeypatch.setattr(simulator_server_module, "MAX_FAULT_DELAY", 30)
    sim = VicidialSimulator().start()
    sim.state.inject(Fault(delay=30))
    waiting = threading.Thread(target=requests.post, args=(sim.url,), kwargs={"timeout": 5})
    waiting.start()
    while not sim.state.requests_received:
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    waiting.join()
    assert time.monotonic() - started < 1


def test_demo_state_has_the_demo_phones_and_one_user():
    state = demo_state(user="apiuser", password="pw-1!")
    assert [phone.login for phone in state.phones.values()] == [
        "cc100", "bb100", "1001", "1002", "1003", "1004", "2001", "2002",
    ]  # fmt: skip
    assert {phone.protocol for phone in state.phones.values()} == {"SIP", "IAX2", "EXTERNAL"}
    assert state.phones["1002"].extension == "1002"
    assert [(user.user, user.password) for user in state.users.values()] == [("apiuser", "pw-1")]


def test_management_command_serves_until_stopped_and_never_prints_the_password():
    if not settings.configured:
        settings.configure()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = io.StringIO()
    command = Command(stdout=out)
    with override_settings(VICIDIAL_API_USER="apiuser", VICIDIAL_API_PASS="Pw-secret-42"):
        running = threading.Thread(
            target=call_command, args=(command, "--port", str(port), "--lenient")
        )
        running.start()
        try:
            url = f"http://127.0.0.1:{port}{API_PATH}"
            deadline = time.monotonic() + 5
            while url not in out.getvalue() and time.monotonic() < deadline:
                time.sleep(0.01)
            fields = {"function": "add_phone_alias", "user": "apiuser", "pass": "Pw-secret-42"}
            fields |= {"alias_id": "x" * 25, "alias_name": "demo", "phone_logins": "2002"}
            wrong = requests.post(
                url, data={**fields, "pass": "Pw-wrong-1", "source": "t1"}, timeout=5
            )
            added = requests.post(url, data={**fields, "source": "demo"}, timeout=5)
        finally:
            command.stop_requested.set()
            running.join(timeout=5)
    assert not running.is_alive()
    assert wrong.text.startswith("ERROR: Login incorrect") and added.text.startswith("SUCCESS")
    assert "lenient" in out.getvalue() and "apiuser" in out.getvalue()
    assert "Pw-secret-42" not in out.getvalue() and "Pw-wrong-1" not in out.getvalue()
