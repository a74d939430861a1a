"""The audit MAC keys: configuration, start-up refusal, and never a trace of the secret."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from aliases import audit, services
from aliases.audit.keys import audit_keys_configured

from .base import submit
from .tampering import checkpoint, make_signing_key
from .test_secrets import all_logs, every_page, logged_text  # noqa: F401  (all_logs: fixture)

SECRET = bytes(range(100, 132))
RING = "k1:" + base64.b64encode(SECRET).decode()
ROOT = Path(__file__).resolve().parent.parent


def secret_forms(ring: str) -> dict[str, str]:
    encoded = ring.split(":", 1)[1]
    raw = base64.b64decode(encoded)
    return {
        "base64": encoded,
        "hex": raw.hex(),
        "bytes repr": repr(raw)[2:-1],
        "url-safe base64": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


@pytest.mark.parametrize(
    ("ring", "signing_id", "message"),
    [
        ("", "", "holds no key"),
        ("k1", "", "id:base64secret"),
        ("k 1:" + RING[3:], "", "an id is 1 to 32"),
        ("k1:not*base64", "", "key 'k1' is not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "", "shorter than 32 bytes"),
        (RING + "," + RING, "", "names key 'k1' twice"),
        (RING, "k0", "AUDIT_HMAC_KEY_ID is 'k0'"),
    ],
)
def test_malformed_key_rings_are_refused_without_quoting_the_secret(ring, signing_id, message):
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        audit.parse_key_ring(ring, signing_id)
    assert RING[3:] not in str(refused.value)


def test_the_first_key_signs_unless_one_is_named():
    older = "k0:" + base64.b64encode(bytes(32)).decode()
    assert audit.parse_key_ring(f"{RING},{older}").signing_id == "k1"
    assert audit.parse_key_ring(f"{RING}, {older}", "k0").signing_id == "k0"
    # URL-safe base64 without padding, as secrets.token_urlsafe prints, is accepted too.
    urlsafe = "k2:" + base64.urlsafe_b64encode(SECRET).decode().rstrip("=")
    assert audit.parse_key_ring(urlsafe).mac("k2", "h") == audit.parse_key_ring(
        "k2:" + RING[3:]
    ).mac("k2", "h")


def test_the_key_ring_never_shows_a_secret_in_its_repr():
    assert repr(audit.parse_key_ring(RING)) == "<KeyRing signing='k1' ids=['k1']>"


def test_the_system_check_rejects_a_bad_ring_and_the_development_key(settings):
    settings.AUDIT_HMAC_KEYS = "k1:nope"
    assert [error.id for error in audit_keys_configured(None)] == ["aliases.E020"]
    assert "aliases.E020" in [message.id for message in checks.run_checks()]
    settings.AUDIT_HMAC_KEYS = "dev:" + RING[3:]
    settings.DEBUG = False
    assert [error.id for error in audit_keys_configured(None)] == ["aliases.E021"]
    settings.AUDIT_HMAC_KEYS = RING
    assert audit_keys_configured(None) == []


def run_settings(**environ: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "VICIDIAL_API_PASS": "Apw-12345678",
        **environ,
    }
    return subprocess.run(
        [sys.executable, "-c", "import portal.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_to_load_without_audit_keys_when_debug_is_off():
    refused = run_settings(AUDIT_HMAC_KEYS="")
    assert refused.returncode != 0
    assert "AUDIT_HMAC_KEYS must be set when DEBUG is off." in refused.stderr
    assert run_settings(AUDIT_HMAC_KEYS="", DEBUG="true").returncode == 0
    assert run_settings(AUDIT_HMAC_KEYS=RING).returncode == 0


class Unprintable:
    def __format__(self, spec: str) -> str:
        raise TypeError("no text form")


def test_django_error_reports_mask_the_audit_keys(settings, tmp_path):
    settings.AUDIT_HMAC_KEYS = RING
    settings.AUDIT_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----"
    safe = SafeExceptionReporterFilter().get_safe_settings()
    substitute = SafeExceptionReporterFilter.cleansed_substitute
    assert safe["AUDIT_HMAC_KEYS"] == substitute
    assert safe["AUDIT_SIGNING_KEY"] == substitute

    # A failure while a MAC is computed: the frame's locals are masked in the report.
    request = RequestFactory().get("/", HTTP_AUDIT_HMAC_KEYS=RING)
    ring = audit.parse_key_ring(RING)
    try:
        ring.mac("k1", Unprintable())
    except TypeError:
        report = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()
    assert "chain_hash" in report  # the frame and its locals are in the report
    leaks = [form for form, value in secret_forms(RING).items() if value in report]
    assert not leaks


def test_the_mac_key_appears_nowhere(
    client_for,
    users,
    simulator,
    settings,
    django_db_dump,
    all_logs,  # noqa: F811  (the fixture imported above)
    tmp_path,
):
    settings.AUDIT_HMAC_KEYS = RING
    private, _ = make_signing_key(tmp_path)
    settings.AUDIT_SIGNING_KEY_FILE = str(private)
    alias_request = submit(users["supervisor"], logins="cc100")
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    other = submit(users["supervisor"], alias_id="other_one")
    services.alias_request_reject(request_id=other.pk, actor=users["admin"], note="No.")
    folder = tmp_path / "digests"
    folder.mkdir()
    checkpoint(folder)

    texts = [
        ("database", django_db_dump()),
        ("logs", logged_text(all_logs)),
        ("digests", "".join(path.read_text() for path in folder.iterdir())),
        *every_page(client_for),
    ]
    leaks = [
        f"{form} in {label}"
        for form, value in secret_forms(RING).items()
        for label, text in texts
        if value in text
    ]
    assert not leaks
    assert audit.verify_chain().ok
