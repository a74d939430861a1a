"""gunicorn as the image runs it, for the deployment tests: `bin/entrypoint.sh web` with
portal/settings.py (DEBUG off), behind a pretend TLS proxy, on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = str(ROOT / "bin" / "entrypoint.sh")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# What the TLS proxy in front of the portal adds (BEHIND_TLS_PROXY=true trusts it).
VIA_TLS_PROXY = {"X-Forwarded-Proto": "https"}
INHERITED = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "PATH")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(*, database_url: str, vicidial_url: str, static_root: Path) -> dict[str, str]:
    """The variables `make deploy-check` sets, fresh secrets, and this machine's addresses."""
    # Only the basics of this environment: the test settings put their own values in it.
    env = {key: os.environ[key] for key in INHERITED if key in os.environ}
    return env | {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        # The image puts its virtualenv first on PATH; the entry point finds gunicorn there.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "BEHIND_TLS_PROXY": "true",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": str(static_root),
        "VICIDIAL_API_URL": vicidial_url,
        # One server, whatever a developer's .env lists (settings read it for unset keys).
        "VICIDIAL_SERVERS": "",
        "VICIDIAL_API_PASS": "Dpw" + secrets.token_urlsafe(18),
        "AUDIT_HMAC_KEYS": "deploy:" + secrets.token_urlsafe(32),
        "GUNICORN_WORKERS": "1",  # the machine is small; one worker shows everything here
    }


def collectstatic(env: dict[str, str]) -> None:
    subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass
class Gunicorn:
    url: str
    port: int
    log: Path
    process: subprocess.Popen
    env: dict[str, str]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[Gunicorn]:
    port = free_port()
    env = env | {"GUNICORN_BIND": f"127.0.0.1:{port}", "PORT": str(port)}
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [ENTRYPOINT, "web"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    server = Gunicorn(url=url, port=port, log=log, process=process, env=env)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        _stop(process)


def _wait_until_listening(server: Gunicorn) -> None:
    give_up_at = time.monotonic() + START_TIMEOUT
    while time.monotonic() < give_up_at:
        if server.process.poll() is not None:
            pytest.fail(f"gunicorn exited at start-up:\n{server.log_text()}")
        with contextlib.suppress(requests.ConnectionError):
            requests.get(f"{server.url}/healthz/live", timeout=5)
            return
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer within {START_TIMEOUT:g} s:\n{server.log_text()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
