"""JSON log lines: their shape, the request id that is the audit correlation id (in requests
and in the task worker), hostile X-Request-ID headers, and the passwords masked."""

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
import structlog
from django.urls import reverse

from aliases.audit import AuditContext
from aliases.models import AuditEvent
from aliases.request_id import HEADER
from aliases.services import alias_request_approve
from portal.logs import json_formatter, plain_formatter

from .base import PASSWORD, submit

ROOT = Path(__file__).resolve().parent.parent
Type = AuditEvent.Type
NEW_ID = re.compile(r"[0-9a-f]{32}")
DB_PASSWORD = "Db-Pa55word-in-a-URL"
DB_URL = f"mysql://portal_ro:{DB_PASSWORD}@127.0.0.1:3306/asterisk"
GUNICORN_START_TIMEOUT = 30.0


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines()]

    def of(self, logger: str) -> list[dict]:
        return [line for line in self.lines() if line["logger"] == logger]


@pytest.fixture
def json_log():
    """What the root logger's JSON handler writes, as it writes it: formatted while the
    request or task still runs, which caplog's records are not."""
    structlog.contextvars.clear_contextvars()
    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(json_formatter())
    logging.root.addHandler(handler)
    try:
        yield captured
    finally:
        logging.root.removeHandler(handler)


def test_each_record_is_one_json_object_on_one_line(json_log):
    logger = logging.getLogger("aliases.anything")
    try:
        raise ValueError("it broke\nacross lines")
    except ValueError:
        logger.exception("step %s failed\nforged line", "two")
    (line,) = json_log.text().splitlines()
    logged = json.loads(line)
    assert list(logged)[:4] == ["timestamp", "level", "logger", "event"]
    assert datetime.fromisoformat(logged["timestamp"]).utcoffset().total_seconds() == 0
    assert (logged["level"], logged["logger"]) == ("error", "aliases.anything")
    assert logged["event"] == "step two failed\nforged line"
    assert "ValueError: it broke\nacross lines" in logged["exception"]
    assert "request_id" not in logged


def test_a_request_logs_its_id_which_is_the_header_and_the_approval_correlation_id(
    users, client_for, simulator, json_log
):
    pending = submit(users["supervisor"])
    response = client_for("admin").post(reverse("aliases:request_approve", args=[pending.pk]))
    assert response.status_code == 302
    request_id = response[HEADER]
    assert NEW_ID.fullmatch(request_id)
    events = AuditEvent.objects.filter(request=pending).exclude(event_type=Type.REQUEST_CREATED)
    assert {event.correlation_id for event in events} == {request_id}
    (call_line,) = json_log.of("aliases.services.calls")
    assert call_line["request_id"] == request_id
    # The response is closed: nothing logged afterwards on this thread carries the id.
    logging.getLogger("aliases.after").warning("later")
    assert "request_id" not in json_log.of("aliases.after")[0]


def test_a_login_writes_the_request_id_as_its_audit_correlation_id(users, client):
    response = client.post(reverse("login"), {"username": "admin", "password": PASSWORD})
    assert response.status_code == 302
    login = AuditEvent.objects.get(event_type=Type.LOGIN_SUCCEEDED)
    assert login.correlation_id == response[HEADER]


def test_a_line_django_logs_after_the_middleware_carries_the_id(client_for, users, json_log):
    pending = submit(users["supervisor"])
    response = client_for("auditor").post(reverse("aliases:request_approve", args=[pending.pk]))
    assert response.status_code == 403
    (refusal,) = json_log.of("django.request")
    assert refusal["request_id"] == response[HEADER]
    assert refusal["status_code"] == 403
    assert refusal["event"] == f"Forbidden (Permission denied): /requests/{pending.pk}/approve/"


@pytest.mark.parametrize(
    "hostile",
    [
        "short12",
        "a" * 33,
        "has spaces 123",
        "line\r\nforged-line",
        "<script>1234</script>",
        "abcd1234;drop",
        "idé-12345678",
    ],
)
def test_a_hostile_request_id_is_replaced(users, client, settings, hostile):
    settings.TRUST_X_REQUEST_ID = True
    response = client.post(
        reverse("login"),
        {"username": "admin", "password": PASSWORD},
        headers={HEADER: hostile},
    )
    assert NEW_ID.fullmatch(response[HEADER])
    login = AuditEvent.objects.get(event_type=Type.LOGIN_SUCCEEDED)
    assert login.correlation_id == response[HEADER]


def test_a_trusted_proxys_request_id_is_kept_in_lower_case(users, client, settings):
    settings.TRUST_X_REQUEST_ID = True
    response = client.post(
        reverse("login"),
        {"username": "admin", "password": PASSWORD},
        headers={HEADER: "Proxy-0123ABCD"},
    )
    # Lower case: the audit searches match correlation ids in lower case.
    assert response[HEADER] == "proxy-0123abcd"
    login = AuditEvent.objects.get(event_type=Type.LOGIN_SUCCEEDED)
    assert login.correlation_id == "proxy-0123abcd"


def test_a_trusted_proxys_uuid_request_id_is_kept_as_its_hex_digits(users, client, settings):
    # Envoy and Heroku send 36 characters; the correlation id holds 32.
    settings.TRUST_X_REQUEST_ID = True
    sent = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
    response = client.post(
        reverse("login"), {"username": "admin", "password": PASSWORD}, headers={HEADER: sent}
    )
    assert response[HEADER] == "3f2504e04f8941d39a0c0305e82c3301"
    login = AuditEvent.objects.get(event_type=Type.LOGIN_SUCCEEDED)
    assert login.correlation_id == "3f2504e04f8941d39a0c0305e82c3301"


def test_an_untrusted_request_id_is_ignored(client):
    # Else a client could give its own events the correlation id of someone else's action.
    response = client.get(reverse("login"), headers={HEADER: "someone-elses-action"})
    assert NEW_ID.fullmatch(response[HEADER])


def test_the_worker_logs_with_the_approvers_correlation_id(users, simulator, json_log):
    pending = submit(users["supervisor"])
    approval = AuditContext(source_ip="192.0.2.1", correlation_id="feedc0de" * 4)
    # Outside any request: only the task itself can bind the id (tests run tasks inline).
    alias_request_approve(request_id=pending.pk, actor=users["admin"], context=approval)
    (call_line,) = json_log.of("aliases.services.calls")
    assert call_line["request_id"] == "feedc0de" * 4
    logging.getLogger("aliases.after").warning("after the task")
    assert "request_id" not in json_log.of("aliases.after")[0]


@pytest.fixture
def secrets_configured(settings):
    settings.VICIDIAL_DB_URL = DB_URL
    settings.EMAIL_HOST_PASSWORD = "Mail-Pa55word-77"
    settings.VICIDIAL_SERVERS = {
        "east": {"API_PASS": "East-Server-Pa55word", "DB_URL": "mysql://ro:East-Db-Pa55@h/a"}
    }
    return [
        settings.VICIDIAL_API_PASS,
        DB_PASSWORD,
        "Mail-Pa55word-77",
        "East-Server-Pa55word",
        "East-Db-Pa55",
    ]


def test_the_passwords_are_masked_in_messages_and_values(secrets_configured, settings, json_log):
    logger = logging.getLogger("aliases.leaky")
    logger.warning("sent %s to %s", settings.VICIDIAL_API_PASS, DB_URL)
    logger.warning("mail %s, east %s", "Mail-Pa55word-77", "East-Server-Pa55word")
    structlog.get_logger("aliases.leaky").warning("bound", db="mysql://ro:East-Db-Pa55@h/a")
    text = json_log.text()
    assert not [secret for secret in secrets_configured if secret in text]
    first, second, third = json_log.of("aliases.leaky")
    assert first["event"] == "sent ******** to mysql://portal_ro:********@127.0.0.1:3306/asterisk"
    assert second["event"] == "mail ********, east ********"
    assert third["db"] == "mysql://ro:********@h/a"


def test_an_exception_with_the_password_in_its_url_is_masked(secrets_configured, json_log):
    # requests' own error text: it quotes the URL, GET query and all.
    url = f"http://127.0.0.1:9/vicidial/non_agent_api.php?user=6666&pass={secrets_configured[0]}"
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(url, timeout=1)
    assert secrets_configured[0] in str(caught.value)
    logging.getLogger("aliases.leaky").error("call failed", exc_info=caught.value)
    (line,) = json_log.of("aliases.leaky")
    assert "non_agent_api.php?user=6666&pass=********" in line["exception"]
    assert secrets_configured[0] not in json_log.text()


def test_unknown_passwords_in_urls_and_parameters_are_masked_too(json_log):
    # A libpq connection string, and a URL whose password no setting holds.
    logging.getLogger("aliases.leaky").error(
        "connection failed: host=db password=Unknown-1 dbname=portal; postgres://u:Unknown-2@db/x"
    )
    (line,) = json_log.of("aliases.leaky")
    assert line["event"] == (
        "connection failed: host=db password=******** dbname=portal; postgres://u:********@db/x"
    )


def test_the_plain_format_masks_the_same(secrets_configured, settings):
    record = logging.LogRecord("aliases.x", logging.INFO, __file__, 1, "%s", (DB_URL,), None)
    line = plain_formatter().format(record)
    assert line.endswith(" INFO aliases.x mysql://portal_ro:********@127.0.0.1:3306/asterisk")


# --- gunicorn, from gunicorn.conf.py ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(port: int, process: subprocess.Popen) -> None:
    give_up_at = time.monotonic() + GUNICORN_START_TIMEOUT
    while time.monotonic() < give_up_at:
        if process.poll() is not None:
            pytest.fail("gunicorn exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not listen within {GUNICORN_START_TIMEOUT:g} s")


def fetch(url: str, request_id: str) -> tuple[int, str]:
    response = requests.get(url, headers={HEADER: request_id}, timeout=10)
    return response.status_code, response.headers[HEADER]


def test_gunicorn_and_the_portal_write_only_json_lines_to_stdout(tmp_path, settings):
    """Every line gunicorn's master and worker print to stdout is JSON: gunicorn's own, the
    access log, Django's; the request's lines carry its id; no password shows."""
    port = free_port()
    api_pass = settings.VICIDIAL_API_PASS
    env = {
        **os.environ,
        # The test settings' static files (no collectstatic here), on the parent's secrets.
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "PORTAL_TEST_CHILD": "1",
        "SECRET_KEY": settings.SECRET_KEY,
        "AUDIT_HMAC_KEYS": settings.AUDIT_HMAC_KEYS,
        "VICIDIAL_API_USER": "6666",
        "VICIDIAL_API_PASS": api_pass,
        "VICIDIAL_API_URL": "http://127.0.0.1:9/vicidial/non_agent_api.php",
        "VICIDIAL_DB_URL": DB_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_FORMAT": "json",
        "TRUST_X_REQUEST_ID": "true",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    stdout = tmp_path / "stdout"
    with stdout.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own config, fixed arguments
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "portal.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_until_listening(port, process)
        # A page that does not exist, whose path (and so Django's log line) holds secrets.
        url = f"http://127.0.0.1:{port}/no-such-page/{api_pass}/{DB_PASSWORD}/"
        status, request_id = fetch(url, "from-the-proxy-42")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert (status, request_id) == (404, "from-the-proxy-42")
    lines = [json.loads(line) for line in stdout.read_text().splitlines()]
    by_logger = {line["logger"]: line for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= by_logger.keys()
    assert by_logger["django.request"]["event"] == "Not Found: /no-such-page/********/********/"
    assert by_logger["gunicorn.access"]["request_id"] == "from-the-proxy-42"
    assert by_logger["django.request"]["request_id"] == "from-the-proxy-42"
    assert api_pass not in stdout.read_text() and DB_PASSWORD not in stdout.read_text()
