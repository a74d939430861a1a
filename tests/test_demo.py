"""`make run`'s demo: the .env it writes, one simulator per local server, and the catalogues."""

import importlib.util
import io
import os
import secrets
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pymysql
import pytest
import requests
from django.core.management import call_command

from aliases.models import Extension
from aliases.services.drift import drift_compare
from aliases.simulator import API_PATH, DEMO_PHONES, EAST_DEMO_PHONES, demo
from aliases.vicidial_db import VicidialDatabase, fetch_alias

from .vicidial_mariadb import MARIADB

ROOT = Path(__file__).resolve().parent.parent
DEV_ENV = ROOT / "bin" / "dev_env.py"


def load_dev_env():
    spec = importlib.util.spec_from_file_location("dev_env", DEV_ENV)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api_url(port: int) -> str:
    return f"http://127.0.0.1:{port}{API_PATH}"


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_dev_env_runs_on_the_system_python_and_describes_two_servers(tmp_path):
    path = tmp_path / ".env"
    # `-I`: isolated from the project, as before the virtualenv exists (stdlib only).
    run = [sys.executable, "-I", str(DEV_ENV), str(path)]
    written = subprocess.run(run, capture_output=True, text=True, check=True, timeout=30)  # noqa: S603
    refused = subprocess.run(run, capture_output=True, text=True, timeout=30)  # noqa: S603

    values = read_env(path)
    assert values["DEBUG"] == "true" and len(values["SECRET_KEY"]) >= 50
    assert (values["VICIDIAL_SERVERS"], values["VICIDIAL_EAST_LABEL"]) == ("east", "East cluster")
    assert values["VICIDIAL_SERVER_LABEL"] == "Main cluster"
    assert values["VICIDIAL_EAST_API_URL"] == api_url(8090)
    assert values["VICIDIAL_API_PASS"] != values["VICIDIAL_EAST_API_PASS"]
    # MariaDB answers in the test environment, so each server gets its demo database.
    assert values["VICIDIAL_DB_URL"] == "mysql://root@127.0.0.1:3306/vicidial_demo_default"
    assert values["VICIDIAL_EAST_DB_URL"] == "mysql://root@127.0.0.1:3306/vicidial_demo_east"
    assert os.stat(path).st_mode & 0o077 == 0
    assert "with demo databases" in written.stdout
    assert values["VICIDIAL_API_PASS"] not in written.stdout
    assert refused.returncode == 1 and read_env(path) == values


def test_dev_env_leaves_the_databases_out_when_mariadb_does_not_answer(unused_port):
    dev_env = load_dev_env()
    assert dev_env.mariadb_answers(("127.0.0.1", MARIADB["port"])) is True
    assert dev_env.mariadb_answers(("127.0.0.1", unused_port)) is False
    assert "DB_URL" not in dev_env.dev_env(with_databases=False)
    assert "VICIDIAL_EAST_API_PASS=" in dev_env.dev_env(with_databases=False)


def test_dev_env_takes_only_a_mysql_greeting_for_mariadb():
    dev_env = load_dev_env()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def refuse_as_mysql_does() -> None:
            connection, _ = listener.accept()
            with connection:  # an error packet (0xff): "Host '...' is not allowed to connect"
                connection.sendall(b"\x17\x00\x00\x00\xff\x6a\x04Host is not allowed")

        answering = threading.Thread(target=refuse_as_mysql_does)
        answering.start()
        assert dev_env.mariadb_answers(listener.getsockname()) is False
        answering.join(timeout=5)


@pytest.fixture
def demo_database(monkeypatch):
    """A database rundemo may write (named like the demo's, here within the tests' own names)."""
    monkeypatch.setattr(demo, "DEMO_DATABASE_PREFIX", "sim_simdb_")
    name = f"sim_simdb_{secrets.token_hex(6)}"
    yield f"mysql://root@127.0.0.1:3306/{name}"
    admin = pymysql.connect(**MARIADB, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


@pytest.fixture
def two_servers(settings):
    settings.VICIDIAL_API_URL = api_url(free_port())
    settings.VICIDIAL_SERVER_LABEL = "Main cluster"
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": api_url(free_port()), "API_PASS": "East-pw-1", "LABEL": "East cluster"}
    }
    return settings


@pytest.fixture
def started():
    simulators = []
    yield simulators
    for simulator in simulators:
        simulator.stop()
        simulator.state.close()


def add(url: str, password: str, alias_id: str, logins: str) -> str:
    fields = {"function": "add_phone_alias", "user": "6666", "pass": password, "source": "test"}
    fields |= {"alias_id": alias_id, "alias_name": "Demo", "phone_logins": logins}
    return requests.post(url, data=fields, timeout=5).text


def test_rundemo_starts_a_simulator_per_local_server(two_servers, demo_database, started):
    two_servers.VICIDIAL_SERVERS["east"]["DB_URL"] = demo_database
    lines = []

    started += demo.start_demo_simulators(lines.append)

    main, east = started
    default_url, east_url = two_servers.VICIDIAL_API_URL, two_servers.VICIDIAL_SERVERS["east"]
    assert (main.url, east.url) == (default_url, east_url["API_URL"])
    password = two_servers.VICIDIAL_API_PASS
    assert add(main.url, password, "main1", "2001").startswith("SUCCESS")  # only on main
    assert add(east.url, password, "east1", "3001").startswith("ERROR: Login incorrect")
    assert add(east.url, "East-pw-1", "east1", "2001").endswith(
        "PHONE DOES NOT EXIST: |6666|2001\n"
    )
    assert add(east.url, "East-pw-1", "east1", "cc100,3001").startswith("SUCCESS")
    assert fetch_alias(VicidialDatabase.from_url(demo_database), "east1").logins == [
        "cc100",
        "3001",
    ]
    assert main.state.alias("east1") is None
    assert lines[0] == (
        f"VICIdial simulator for Main cluster (default) on {main.url}: API user 6666, "
        f"{len(DEMO_PHONES)} phones, kept in memory"
    )
    assert lines[2] == (
        f"VICIdial simulator for East cluster (east) on {east.url}: API user 6666, "
        f"{len(EAST_DEMO_PHONES)} phones, kept in MariaDB {demo_database}"
    )


def test_rundemo_never_writes_a_database_not_named_like_the_demos(
    two_servers, vicidial_db, started
):
    two_servers.VICIDIAL_DB_URL = vicidial_db.writer_url  # could be a real VICIdial's
    lines = []

    started += demo.start_demo_simulators(lines.append)

    assert vicidial_db.execute("SELECT COUNT(*) FROM phones") == [(0,)]
    assert "the simulator keeps its state in memory" in lines[0]
    assert str(started[0].state.store) == "memory"


def test_rundemo_skips_servers_elsewhere(two_servers, started):
    two_servers.VICIDIAL_SERVERS["west"] = {
        "API_URL": "https://vicidial.example.com/vicidial/non_agent_api.php",
        "API_PASS": "x",
    }
    lines = []

    started += demo.start_demo_simulators(lines.append)

    assert [simulator.url for simulator in started] == [
        two_servers.VICIDIAL_API_URL,
        two_servers.VICIDIAL_SERVERS["east"]["API_URL"],
    ]
    assert (
        "Not simulating west (west): https://vicidial.example.com/vicidial/non_agent_api.php "
        "is not a local simulator."
    ) in lines


def test_rundemo_stops_what_it_started_when_a_port_is_taken(two_servers):
    main_port = int(two_servers.VICIDIAL_API_URL.split(":")[2].split("/")[0])
    east_port = int(two_servers.VICIDIAL_SERVERS["east"]["API_URL"].split(":")[2].split("/")[0])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", east_port))
        taken.listen()
        with pytest.raises(OSError, match="Cannot serve East cluster on http://127.0.0.1:"):
            demo.start_demo_simulators(lambda line: None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", main_port))  # free again: the main simulator was stopped


def test_seed_demo_fills_each_simulated_servers_catalogue(db, two_servers):
    two_servers.DEBUG = True
    two_servers.VICIDIAL_SERVERS["west"] = {
        "API_URL": "https://vicidial.example.com/vicidial/non_agent_api.php",
        "API_PASS": "x",
    }
    out = io.StringIO()

    call_command("seed_demo", stdout=out)

    catalogue = set(Extension.objects.values_list("server", "login"))
    assert catalogue == {("default", phone.login) for phone in DEMO_PHONES} | {
        ("east", phone.login) for phone in EAST_DEMO_PHONES
    }
    assert ("default", "cc100") in catalogue and ("east", "cc100") in catalogue
    assert ("east", "2001") not in catalogue and ("default", "3001") not in catalogue
    assert f"{len(EAST_DEMO_PHONES)} demo phones in the catalogue of East cluster" in out.getvalue()


# --- what the demo's VICIdial holds that the portal does not know, and the full demo's hint --


@pytest.fixture
def second_demo_database(demo_database):
    name = f"sim_simdb_{secrets.token_hex(6)}"
    yield f"mysql://root@127.0.0.1:3306/{name}"
    admin = pymysql.connect(**MARIADB, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def aliases_of(simulator) -> dict[str, str]:
    return {alias.alias_id: alias.logins_list for alias in simulator.state.aliases.values()}


def test_each_simulator_starts_with_aliases_made_by_hand(two_servers, started):
    lines = []

    started += demo.start_demo_simulators(lines.append)

    main, east = started
    assert aliases_of(main) == {"helpdesk": "1001,1002", "night_line": "bb100"}
    assert aliases_of(east) == {"east_sales": "3001,cc100,3999", "east_front": "3002"}
    assert "  East cluster: 2 aliases made by hand, unknown to the portal " in "\n".join(lines)


def test_a_demo_database_is_seeded_once_and_keeps_what_was_done_in_it(
    two_servers, demo_database, started
):
    two_servers.VICIDIAL_SERVERS["east"]["DB_URL"] = demo_database
    first = demo.start_demo_simulators(lambda line: None)
    del first[1].state.aliases["east_front"]  # as if disabled through the portal
    for simulator in first:
        simulator.stop()
        simulator.state.close()
    lines = []

    started += demo.start_demo_simulators(lines.append)

    assert aliases_of(started[1]) == {"east_sales": "3001,cc100,3999"}
    assert not any(line.startswith("  East cluster: 2 aliases") for line in lines)
    assert any(line.startswith("  Main cluster: 2 aliases") for line in lines)  # in memory


def test_drift_shows_the_demos_aliases_and_its_dead_login(db, two_servers, demo_database, started):
    two_servers.VICIDIAL_SERVERS["east"]["DB_URL"] = demo_database
    started += demo.start_demo_simulators(lambda line: None)

    report = drift_compare(server="east")

    found = {(row.kind, row.alias_id): row for row in report.rows}
    assert set(found) == {
        ("only_in_vicidial", "east_sales"),
        ("only_in_vicidial", "east_front"),
        ("dead_logins", "east_sales"),
    }
    assert found[("dead_logins", "east_sales")].dead_logins == ["3999"]


def test_an_env_from_before_two_servers_is_told_how_to_get_the_full_demo(
    settings, started, monkeypatch, unused_port
):
    settings.VICIDIAL_API_URL = api_url(free_port())
    settings.VICIDIAL_SERVERS = {}
    monkeypatch.setattr(demo, "MARIADB", ("127.0.0.1", unused_port))  # not needed for this
    lines = []

    started += demo.start_demo_simulators(lines.append)

    assert lines[-1] == (
        "This .env has one VICIdial server (VICIDIAL_SERVERS is unset); for the full demo, "
        "delete .env and run make run again: it writes one with two servers and, while "
        "MariaDB answers, a demo database for each."
    )


def test_servers_without_a_database_while_mariadb_answers_get_the_hint(two_servers, started):
    lines = []

    started += demo.start_demo_simulators(lines.append)

    assert lines[-1].startswith(
        "MariaDB answers on 127.0.0.1:3306 but Main cluster and East cluster have no "
        "database URL, so adopt and drift cannot read them; for the full demo, delete .env"
    )


def test_no_hint_when_mariadb_does_not_answer(two_servers, started, monkeypatch, unused_port):
    monkeypatch.setattr(demo, "MARIADB", ("127.0.0.1", unused_port))
    lines = []

    started += demo.start_demo_simulators(lines.append)

    assert not any("delete .env" in line for line in lines)


def test_no_hint_when_every_server_has_its_database(
    two_servers, demo_database, second_demo_database, started
):
    two_servers.VICIDIAL_DB_URL = demo_database
    two_servers.VICIDIAL_SERVERS["east"]["DB_URL"] = second_demo_database
    lines = []

    started += demo.start_demo_simulators(lines.append)

    assert [str(simulator.state.store) for simulator in started] == [
        f"MariaDB {demo_database}",
        f"MariaDB {second_demo_database}",
    ]
    assert not any("delete .env" in line for line in lines)


def test_the_demo_and_dev_env_agree_on_whether_mariadb_answers(unused_port):
    dev_env = load_dev_env()
    for address in [("127.0.0.1", MARIADB["port"]), ("127.0.0.1", unused_port)]:
        assert demo.mariadb_answers(address) == dev_env.mariadb_answers(address)
    assert demo.MARIADB == dev_env.MARIADB
