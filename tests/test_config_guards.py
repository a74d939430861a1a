"""A configuration that cannot call VICIdial is refused before anything changes: at
start-up (checks, portal/wsgi.py, gunicorn) and before an approval or retry commits."""

import importlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.debug import SafeExceptionReporterFilter

from aliases import checks, services
from aliases.errors import VicidialMisconfigured
from aliases.models import AliasRequest, AuditEvent, VicidialCall
from aliases.services.calls import vicidial_client_ready
from aliases.simulator import Fault

from .base import submit

Status = AliasRequest.Status
ROOT = Path(__file__).resolve().parent.parent


def changes_recorded() -> int:
    return AuditEvent.objects.count()


def ids(problems) -> list[str]:
    return [problem.id for problem in problems]


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("VICIDIAL_HTTP_METHOD", "PUT", "VICIDIAL_HTTP_METHOD must be GET or POST"),
        ("VICIDIAL_API_SOURCE", "a" * 16, "VICIDIAL_API_SOURCE must be 2 to 8 letters or digits"),
        ("VICIDIAL_API_URL", "", "VICIDIAL_API_URL is not set"),
    ],
)
def test_an_approval_that_could_not_call_vicidial_is_refused_and_changes_nothing(
    users, client_for, simulator, settings, setting, value, message
):
    alias_request = submit(users["supervisor"])
    admin = client_for("admin")
    events_before = changes_recorded()
    setattr(settings, setting, value)

    url = reverse("aliases:request_approve", args=[alias_request.pk])
    page = admin.post(url, {"note": "go"}, follow=True)

    assert page.status_code == 200
    assert message in page.content.decode()
    assert "Nothing was changed" in page.content.decode()
    alias_request.refresh_from_db()
    assert alias_request.status == Status.PENDING
    assert alias_request.decided_by is None
    assert changes_recorded() == events_before
    assert not VicidialCall.objects.exists()
    assert simulator.state.requests_received == []


def test_a_retry_that_could_not_call_vicidial_is_refused_and_changes_nothing(
    users, client_for, simulator, settings
):
    simulator.state.inject(Fault(reset=True))
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    admin2 = client_for("admin2")
    events_before = changes_recorded()
    settings.VICIDIAL_HTTP_METHOD = "PUT"

    url = reverse("aliases:request_retry", args=[alias_request.pk])
    page = admin2.post(url, {"note": ""}, follow=True)

    assert "VICIDIAL_HTTP_METHOD must be GET or POST" in page.content.decode()
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert changes_recorded() == events_before
    assert len(simulator.state.requests_received) == 1


def test_a_request_number_too_long_for_the_source_refuses_the_call_before_it_commits(settings):
    with pytest.raises(VicidialMisconfigured, match="longer than 12 characters"):
        vicidial_client_ready(None, server="default", reference="1234567890123")
    assert vicidial_client_ready(
        None, server="default", reference="123456789012"
    ).config.source_for("1") == ("portal1")


# Start-up checks.


def test_a_source_tag_that_leaves_no_room_for_the_request_number_is_refused(settings):
    settings.VICIDIAL_API_SOURCE = "abcdefghijklmnop"  # 16 + "1000" and + "100000" collide
    assert "aliases.E003" in ids(checks.vicidial_settings(None))
    settings.VICIDIAL_API_SOURCE = "portalEU"
    assert "aliases.E003" not in ids(checks.vicidial_settings(None))


@pytest.mark.parametrize(
    "password",
    [
        "Desk2",
        "Short-pw-11",
        "aaaaaaaaaaaaaaaaaaaa",
        "abababcdcdcdababcd",
        "123456789012",
        "password1234",
    ],
)
def test_a_password_too_weak_to_tell_apart_from_real_values_is_refused(settings, password):
    settings.VICIDIAL_API_PASS = password
    assert "aliases.E005" in ids(checks.vicidial_settings(None))
    settings.DEBUG = True  # the demo and the tests of redaction may use anything
    assert "aliases.E005" not in ids(checks.vicidial_settings(None))


def test_a_random_password_like_make_deploy_check_passes(settings):
    settings.VICIDIAL_API_PASS = secrets.token_urlsafe(18)
    assert ids(checks.vicidial_settings(None)) == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"VICIDIAL_TOTAL_DEADLINE": 3.0, "VICIDIAL_CONNECT_TIMEOUT": 3.0}, "aliases.E006"),
        ({"VICIDIAL_MAX_BODY_BYTES": 100}, "aliases.E008"),
        ({"VICIDIAL_MAX_IN_FLIGHT": 0}, "aliases.E009"),
        ({"VICIDIAL_CALLS_PER_SECOND": -1}, "aliases.E013"),
    ],
)
def test_call_limits_that_cannot_hold_are_refused(settings, overrides, problem):
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert problem in ids(checks.vicidial_settings(None))


def test_the_default_call_limits_pass(settings):
    settings.VICIDIAL_TOTAL_DEADLINE = 20.0
    settings.VICIDIAL_CONNECT_TIMEOUT = 3.0
    assert ids(checks.vicidial_settings(None)) == []


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VICIDIAL_", "DJANGO_", "DATABASE_", "AUDIT_"))
    }
    return env | {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "portal.example.com",
        "VICIDIAL_API_PASS": secrets.token_urlsafe(18),
        "VICIDIAL_API_URL": "https://vicidial.example.com/vicidial/non_agent_api.php",
        "AUDIT_HMAC_KEYS": "k1:" + secrets.token_urlsafe(32),
        **overrides,
    }


def load_wsgi(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import portal.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_wsgi_starts_with_a_configuration_the_checks_accept():
    wsgi = importlib.reload(importlib.import_module("portal.wsgi"))
    assert callable(wsgi.application)


def test_wsgi_refuses_to_start_with_a_configuration_the_checks_reject():
    bad = load_wsgi(production_env(VICIDIAL_HTTP_METHOD="PUT"))
    assert bad.returncode != 0
    assert "ImproperlyConfigured: Refusing to start" in bad.stderr
    assert "aliases.E004" in bad.stderr and "VICIDIAL_HTTP_METHOD must be POST or GET" in bad.stderr


def test_gunicorn_refuses_to_start_with_it_too():
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "--check-config", "portal.wsgi:application"]
    run = subprocess.run(  # noqa: S603 - our own venv's gunicorn, fixed arguments
        command,
        cwd=ROOT,
        env=production_env(VICIDIAL_API_SOURCE="abcdefghijklmnop"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "aliases.E003" in run.stdout + run.stderr


# Error reports.


def test_error_reports_hide_the_vicidial_database_url(settings):
    settings.VICIDIAL_DB_URL = "mysql://cron:My-Sql-Pw-42@vicidial-db/asterisk"
    configured = import_string(settings.DEFAULT_EXCEPTION_REPORTER_FILTER)()
    safe = configured.get_safe_settings()
    assert safe["VICIDIAL_DB_URL"] == SafeExceptionReporterFilter.cleansed_substitute
    assert "My-Sql-Pw-42" not in repr(safe)
    assert safe["VICIDIAL_API_PASS"] == SafeExceptionReporterFilter.cleansed_substitute
    # Django's own filter alone would have shown it.
    assert "My-Sql-Pw-42" in repr(SafeExceptionReporterFilter().get_safe_settings())
