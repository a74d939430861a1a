"""The portal as the image runs it: `bin/entrypoint.sh web`, gunicorn.conf.py, portal/settings.py
with DEBUG off and collectstatic output, WhiteNoise serving the hashed files. One gunicorn
for the module."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.db import connection

from .deploy_helpers import ENTRYPOINT, ROOT, VIA_TLS_PROXY, collectstatic, gunicorn, production_env
from .workers import database_url, wait_for

FAR_FUTURE = "max-age=315360000, public, immutable"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, simulator_server, django_db_setup):
    tmp = tmp_path_factory.mktemp("deploy")
    # /healthz only runs SELECT 1: the test database on PostgreSQL, an empty file on SQLite.
    on_postgresql = connection.vendor == "postgresql"
    url = database_url() if on_postgresql else f"sqlite:///{tmp / 'db.sqlite3'}"
    env = production_env(
        database_url=url, vicidial_url=simulator_server.url, static_root=tmp / "static"
    )
    collectstatic(env)
    with gunicorn(env, tmp / "gunicorn.log") as server:
        yield server


@pytest.fixture(scope="module")
def manifest(deployed) -> dict[str, str]:
    static_root = Path(deployed.env["STATIC_ROOT"])
    return json.loads((static_root / "staticfiles.json").read_text())["paths"]


def bootstrap_css(manifest: dict[str, str]) -> str:
    (name,) = [hashed for name, hashed in manifest.items() if name.endswith("bootstrap.min.css")]
    return f"/static/{name}"


def test_healthz_answers_with_production_settings(deployed):
    response = requests.get(f"{deployed.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["vicidial"] == {"default": {"ok": True}}
    live = requests.get(f"{deployed.url}/healthz/live", timeout=10)
    assert (live.status_code, live.json()["status"]) == (200, "ok")


def test_production_settings_are_in_force(deployed):
    # Plain http is redirected to https everywhere but /healthz (tests/test_healthz.py).
    page = requests.get(f"{deployed.url}/accounts/login/", allow_redirects=False, timeout=10)
    assert page.status_code == 301
    assert page.headers["Location"].startswith("https://127.0.0.1")


def test_docker_healthcheck_passes(deployed):
    probe = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "bin/healthcheck.py"],
        cwd=ROOT,
        env=deployed.env | {"PORT": str(deployed.port)},
        capture_output=True,
        timeout=30,
    )
    assert probe.returncode == 0, probe.stderr


def test_hashed_static_files_are_cached_for_ever(deployed, manifest):
    response = requests.get(
        deployed.url + bootstrap_css(manifest),
        headers=VIA_TLS_PROXY | {"Accept-Encoding": "identity"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.headers["Cache-Control"] == FAR_FUTURE
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]


def test_static_files_are_served_gzipped_when_asked(deployed, manifest):
    # gzip only: Brotli would add ~7 s of CPU to every collectstatic for ~15% less on the wire.
    path = bootstrap_css(manifest)
    plain = requests.get(
        deployed.url + path,
        headers=VIA_TLS_PROXY | {"Accept-Encoding": "identity"},
        timeout=10,
    )
    packed = requests.get(
        deployed.url + path,
        headers=VIA_TLS_PROXY | {"Accept-Encoding": "gzip, deflate"},
        stream=True,
        timeout=10,
    )
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Cache-Control"] == FAR_FUTURE
    assert int(packed.headers["Content-Length"]) < len(plain.content) / 3


def test_access_log_leaves_out_query_strings(deployed):
    secret_term = "q-term-7Rb2"
    url = f"{deployed.url}/accounts/login/?next=/audit/%3Fq%3D{secret_term}&q={secret_term}"
    agent = "access-log-test"  # finds this request's line, whatever the log's format
    headers = VIA_TLS_PROXY | {"Referer": url, "User-Agent": agent}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    line = wait_for(
        lambda: next((line for line in deployed.log_text().splitlines() if agent in line), None),
        timeout=10,
        what="the access log line",
    )
    assert "GET /accounts/login/ HTTP/1.1" in line
    assert secret_term not in deployed.log_text()


def test_worker_entry_point(deployed):
    """The image's second command runs the task worker (here only its --help, no queue)."""
    done = subprocess.run(  # noqa: S603 - fixed argv
        [ENTRYPOINT, "worker", "--help"],
        cwd=ROOT,
        env=deployed.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "portal_worker" in done.stdout


def test_gunicorn_refuses_a_timeout_a_vicidial_call_could_outlast(deployed):
    env = deployed.env | {"GUNICORN_TIMEOUT": "20", "VICIDIAL_TOTAL_DEADLINE": "20"}
    done = subprocess.run(  # noqa: S603 - fixed argv
        [ENTRYPOINT, "web", "--bind", "127.0.0.1:0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "GUNICORN_TIMEOUT (20 s) must exceed" in done.stdout + done.stderr
