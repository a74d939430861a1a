"""/healthz and /healthz/live: green and red, without a login, without credentials or
VICIdial's own text, ahead of every other middleware."""

import json
import subprocess
import sys

import pytest
import requests
import time_machine
from django.core.cache import cache
from django.db import connection, connections
from django.db.utils import OperationalError
from django.test import Client

from aliases.simulator import Fault

from . import workers
from .deploy_helpers import ROOT, gunicorn, production_env


@pytest.fixture(autouse=True)
def _fresh_health_cache():
    cache.clear()
    yield
    cache.clear()


def healthz(path: str = "/healthz", **headers) -> tuple[int, dict]:
    response = Client().get(path, **headers)
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content)


def versions_asked(simulator) -> int:
    received = simulator.state.requests_received
    return sum(1 for request in received if request.params.get("function") == "version")


def test_green_when_the_database_and_vicidial_answer(db, simulator, settings):
    status, body = healthz()
    assert status == 200
    assert body == {
        "status": "ok",
        "failing": [],
        "database": {"ok": True},
        "vicidial": {"default": {"ok": True}},
    }


def test_no_vicidial_text_reaches_the_anonymous_answer(db, simulator, settings):
    """Neither its version (which known flaws apply) nor, in an error, what it echoes back:
    here the password and its host."""
    status, body = healthz()
    assert status == 200
    assert "2.14" not in json.dumps(body)  # the simulator answers "VERSION: 2.14-202|..."
    cache.clear()
    echoed = f"ERROR: version PASSWORD {settings.VICIDIAL_API_PASS} REFUSED ON vici.example.com"
    simulator.state.inject(Fault(status=500, body=echoed))
    status, body = healthz()
    assert status == 503
    assert body["vicidial"]["default"] == {"ok": False, "error": "HTTP 500"}
    text = json.dumps(body)
    assert settings.VICIDIAL_API_PASS not in text
    assert "vici.example.com" not in text
    assert "REFUSED" not in text


def test_an_error_answer_is_named_by_its_result(db, simulator, settings):
    simulator.state.inject(Fault(body="ERROR: version NOT AVAILABLE ON 2.14-202"))
    status, body = healthz()
    assert status == 503
    assert body["vicidial"]["default"] == {"ok": False, "error": "Refused by VICIdial"}


def test_red_when_vicidial_is_down(db, settings, unused_port):
    settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
    status, body = healthz()
    assert status == 503
    assert body["status"] == "fail"
    assert body["failing"] == ["vicidial:default"]
    assert body["database"] == {"ok": True}
    assert body["vicidial"]["default"] == {"ok": False, "error": "refused"}


def test_each_server_is_asked_and_named(db, simulator, settings, unused_port):
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"},
        "west": {"API_URL": simulator.url},
    }
    status, body = healthz()
    assert status == 503
    assert body["failing"] == ["vicidial:east"]
    assert [name for name, part in body["vicidial"].items() if part["ok"]] == ["default", "west"]


def test_a_server_without_an_address_is_reported_not_configured(db, simulator, settings):
    settings.VICIDIAL_SERVERS = {"east": {"API_URL": ""}}
    status, body = healthz()
    assert status == 503
    assert body["vicidial"]["east"] == {"ok": False, "error": "not configured"}


def test_a_slow_server_fails_within_the_health_timeout(db, simulator, settings):
    settings.HEALTHZ_VICIDIAL_TIMEOUT = 0.3
    simulator.state.inject(Fault(delay=1.0))
    status, body = healthz()
    assert status == 503
    assert body["vicidial"]["default"] == {"ok": False, "error": "timeout"}


def test_answers_are_cached_per_server_for_a_few_seconds(db, simulator, settings, unused_port):
    settings.HEALTHZ_CACHE_SECONDS = 10
    with time_machine.travel("2026-03-02 10:00:00", tick=False) as clock:
        assert healthz()[0] == 200
        asked = versions_asked(simulator)
        settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
        clock.shift(9)
        assert healthz()[0] == 200  # the cached answer: VICIdial was not asked again
        assert versions_asked(simulator) == asked
        clock.shift(2)
        status, body = healthz()
    assert status == 503
    assert body["failing"] == ["vicidial:default"]


def test_red_when_the_database_is_down_without_touching_it_elsewhere(simulator, monkeypatch):
    """No `db` fixture: any other database access (sessions, auth, axes) would fail the
    request with a 500; only the health check's own query may run, and it is refused."""

    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    # On the class: monkeypatch would leave an instance attribute behind on the connection.
    monkeypatch.setattr(type(connections["default"]), "ensure_connection", refused)
    client = Client()
    client.cookies["sessionid"] = "a-session-that-would-need-the-database"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["failing"] == ["database"]
    assert body["database"] == {"ok": False, "error": "OperationalError"}
    assert body["vicidial"]["default"]["ok"] is True


def test_probed_by_address_over_plain_http_in_production(db, simulator, settings):
    """Load balancers and Docker's HEALTHCHECK use the instance's address, over http."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    assert Client().get("/accounts/login/", HTTP_HOST="10.0.0.7").status_code == 400
    assert Client().get("/accounts/login/", HTTP_HOST="portal.example.com").status_code == 301
    status, body = healthz(HTTP_HOST="10.0.0.7")
    assert (status, body["status"]) == (200, "ok")


def test_only_reads(db, simulator):
    for path in ("/healthz", "/healthz/live"):
        assert Client().post(path).status_code == 405
        assert Client().head(path).status_code == 200


# Liveness: what Docker's HEALTHCHECK asks.


def test_live_is_green_while_vicidial_is_down(db, settings, unused_port):
    """The pages still work and calls wait in the queue: no container should be restarted."""
    settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
    assert healthz()[0] == 503
    assert healthz("/healthz/live") == (
        200,
        {"status": "ok", "failing": [], "database": {"ok": True}},
    )


def test_live_asks_no_vicidial_server(db, simulator):
    assert healthz("/healthz/live")[0] == 200
    assert versions_asked(simulator) == 0


def test_live_is_red_when_the_database_is_down(monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(type(connections["default"]), "ensure_connection", refused)
    assert healthz("/healthz/live") == (
        503,
        {
            "status": "fail",
            "failing": ["database"],
            "database": {"ok": False, "error": "OperationalError"},
        },
    )


def test_live_is_probed_by_address_over_plain_http_in_production(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    assert healthz("/healthz/live", HTTP_HOST="10.0.0.7")[0] == 200


def test_database_down_in_a_real_gunicorn(simulator_server, tmp_path, unused_port):
    """portal/settings.py and gunicorn as deployed, with the database unreachable."""
    if connection.vendor == "postgresql":
        database_url = f"postgres://postgres@127.0.0.1:{unused_port}/portal"
    else:
        database_url = f"sqlite:///{tmp_path / 'missing-folder' / 'db.sqlite3'}"
    env = production_env(
        database_url=database_url,
        vicidial_url=simulator_server.url,
        static_root=tmp_path,  # /healthz serves no static file: no collectstatic needed
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        response = requests.get(f"{server.url}/healthz", timeout=10)
        probe = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "bin/healthcheck.py"],
            cwd=ROOT,
            env=env | {"PORT": str(server.port)},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
    assert response.json()["vicidial"]["default"]["ok"] is True
    assert probe.returncode == 1
    assert env["VICIDIAL_API_PASS"] not in response.text + server.log_text()


def test_vicidial_down_in_a_real_gunicorn_leaves_the_container_healthy(
    transactional_db, tmp_path, unused_port
):
    """Docker's HEALTHCHECK asks /healthz/live: green, while /healthz tells of VICIdial."""
    if connection.vendor == "postgresql":
        database_url = workers.database_url()
    else:
        database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"  # SELECT 1 needs no tables
    env = production_env(
        database_url=database_url,
        vicidial_url=f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php",
        static_root=tmp_path,
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        ready = requests.get(f"{server.url}/healthz", timeout=10)
        probe = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "bin/healthcheck.py"],
            cwd=ROOT,
            env=env | {"PORT": str(server.port)},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert (ready.status_code, ready.json()["failing"]) == (503, ["vicidial:default"])
    assert probe.returncode == 0, probe.stderr
