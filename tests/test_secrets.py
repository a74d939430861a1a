"""The VICIdial API password never leaks, and VICIdial's text is shown and logged harmlessly."""

import html
import json
import logging
import re
import uuid
from urllib.parse import quote, quote_plus

import pytest
from django.test import Client
from django.urls import reverse
from django.views.debug import SafeExceptionReporterFilter

from aliases.models import AliasRequest, AuditEvent, VicidialCall, VicidialCircuit
from aliases.simulator import Fault, vicidial_filtered

Status = AliasRequest.Status
# Characters that URL-encoding, HTML-escaping, JSON and VICIdial's filter each treat differently.
WRONG = 'Wr0ng-Pa55&<x>"q"'
FILTERED = "Wr0ng-Pa55xq"  # what VICIdial compares, and echoes in "Login incorrect"


# The audit events that hold what VICIdial answered; the others are not worth a page each.
CARRY_VICIDIAL_TEXT = [
    AuditEvent.Type.VICIDIAL_CALL,
    AuditEvent.Type.REQUEST_FAILED,
    AuditEvent.Type.REQUEST_NEEDS_VERIFICATION,
    AuditEvent.Type.CIRCUIT_OPENED,
    AuditEvent.Type.CIRCUIT_RESET,
]


def leak_forms(secret: str) -> dict[str, str]:
    json_inner = json.dumps(secret)[1:-1]
    return {
        "raw": secret,
        "quote_plus": quote_plus(secret),
        "quote": quote(secret, safe=""),
        "html": html.escape(secret),
        "html, quotes kept": html.escape(secret, quote=False),
        "JSON": json_inner,
        "JSON in HTML": html.escape(json_inner),
        "VICIdial-filtered": vicidial_filtered("pass", secret),
    }


@pytest.fixture
def all_logs(caplog):
    """Every record of every logger, DEBUG and up (the project's handlers all propagate to the
    root, except django.server, which only runserver uses)."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level:
            caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def new_request(client: Client, alias_id: str, logins: str) -> AliasRequest:
    data = {
        "alias_id": alias_id,
        "alias_name": "Leak test",
        "phone_logins": logins,
        "justification": "Drives the approval over HTTP.",
        "submission_token": uuid.uuid4(),
    }
    response = client.post(reverse("aliases:request_new"), data)
    assert response.status_code == 302, response.content.decode()[:500]
    return AliasRequest.objects.get(alias_id=alias_id)


def get(client: Client, url: str, label: str, pages: list) -> str:
    response = client.get(url)
    assert response.status_code == 200, f"{label}: {response.status_code}"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    cookies = "; ".join(morsel.value for morsel in response.cookies.values())
    pages.append((label, body.decode() + "\n" + cookies))
    return pages[-1][1]


def every_page(client_for, *, exports: bool = True) -> list[tuple[str, str]]:
    """Every page a user can reach that shows requests, calls or the audit trail."""
    pages: list[tuple[str, str]] = []
    requests = list(AliasRequest.objects.order_by("pk"))
    logins = sorted({login for request in requests for login in request.logins_in_order()})
    for persona in ("supervisor", "admin", "auditor"):
        client = client_for(persona)
        get(client, reverse("aliases:home"), f"{persona} home", pages)
        get(client, reverse("aliases:request_list"), f"{persona} request list", pages)
        for request in requests:
            url = reverse("aliases:request_detail", args=[request.pk])
            get(client, url, f"{persona} request #{request.pk}", pages)
        if persona == "supervisor":
            continue
        get(client, reverse("aliases:audit_list"), f"{persona} audit list", pages)
        for login in logins:
            url = reverse("aliases:extension_history", args=[login])
            get(client, url, f"{persona} history of {login}", pages)
        for model, objects in [
            ("aliasrequest", requests),
            ("vicidialcall", VicidialCall.objects.all()),
            ("auditevent", AuditEvent.objects.filter(event_type__in=CARRY_VICIDIAL_TEXT)),
        ]:
            url = reverse(f"admin:aliases_{model}_changelist")
            get(client, url, f"{persona} admin {model} list", pages)
            for obj in objects:
                url = reverse(f"admin:aliases_{model}_change", args=[obj.pk])
                get(client, url, f"{persona} admin {model} #{obj.pk}", pages)
    if exports:
        auditor = client_for("auditor")
        for fmt in ("csv", "jsonl"):
            get(auditor, reverse("aliases:audit_export", args=[fmt]), f"{fmt} export", pages)
    return pages


def logged_text(caplog) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_echoed_password_appears_nowhere(
    client_for, simulator, settings, django_db_dump, all_logs, method
):
    assert vicidial_filtered("pass", WRONG) == FILTERED
    settings.VICIDIAL_API_PASS = WRONG
    settings.VICIDIAL_HTTP_METHOD = method
    supervisor, admin = client_for("supervisor"), client_for("admin")
    first = new_request(supervisor, "leak_one", "cc100")
    second = new_request(supervisor, "leak_two", "bb100, 1001")

    pages: list[tuple[str, str]] = []
    approve = reverse("aliases:request_approve", args=[first.pk])
    pages.append(("approval", admin.post(approve, {"note": "go"}, follow=True).content.decode()))
    resume = reverse("aliases:vicidial_resume")
    pages.append(("resume", admin.post(resume, follow=True).content.decode()))
    approve = reverse("aliases:request_approve", args=[second.pk])
    pages.append(("approval", admin.post(approve, {"note": "go"}, follow=True).content.decode()))

    # The portal sent the wrong password, VICIdial echoed it, the portal masked the echo.
    # (The simulator's own record of what it received is out of scope: it is VICIdial's side.)
    assert [received.params["pass"] for received in simulator.state.requests_received] == [
        WRONG,
        WRONG,
    ]
    calls = list(VicidialCall.objects.order_by("pk"))
    assert [call.result for call in calls] == ["auth_failed", "auth_failed"]
    echo = re.compile(r"ERROR: Login incorrect, please try again: \|6666\|(?P<echo>[^|]+)\|BAD\|")
    assert all(echo.match(call.response_body)["echo"] == "*" * 8 for call in calls)
    assert VicidialCircuit.objects.get().is_open
    assert AliasRequest.objects.filter(status=Status.FAILED).count() == 2

    pages += every_page(client_for)
    texts = [
        ("database", django_db_dump()),
        ("logs", logged_text(all_logs)),
        *pages,
        ("cookies", "; ".join(m.value for c in (supervisor, admin) for m in c.cookies.values())),
    ]
    leaks = [
        f"{form} form ({value!r}) in {label}"
        for form, value in leak_forms(WRONG).items()
        for label, text in texts
        if value in text
    ]
    assert not leaks, "\n".join(["", *leaks])
    assert len(pages) > 40


def test_django_error_reports_mask_the_vicidial_password(settings):
    settings.VICIDIAL_API_PASS = WRONG
    safe = SafeExceptionReporterFilter().get_safe_settings()
    assert safe["VICIDIAL_API_PASS"] == SafeExceptionReporterFilter.cleansed_substitute
    assert not any(value in repr(safe) for value in leak_forms(WRONG).values())
    # The client's own frames are masked too: tests/test_vicidial_client.py
    # (test_error_reports_mask_every_local_in_and_below_the_call).


SCRIPT = "<script>alert(1)</script>"
MARKER = "forged-by-vicidial"
# No result line: the outcome is unknown and the request needs verification.
ODD_BODY = (
    f"{SCRIPT} \"double\" 'single' <b onmouseover=alert(2)>bold</b>\r\n"
    f"2026-11-26 21:00:00,000 INFO aliases.services.calls request 1: {MARKER}\r\n"
)
# On a retry, "already exists" means the first call probably worked: still needs verification,
# and now VICIdial's own line (with a bare CR in it) becomes the request's outcome reason.
RETRY_BODY = (
    "ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: "
    f"|6666|{SCRIPT}\"double\"'single'\r2026-11-26 INFO aliases {MARKER}\n"
)
UNESCAPED = [SCRIPT[:-9], "<b onmouseover", '"double"', "'single'"]


def test_vicidial_text_is_escaped_everywhere_and_forges_no_log_line(
    client_for, simulator, all_logs
):
    supervisor, admin = client_for("supervisor"), client_for("admin")
    alias_request = new_request(supervisor, "odd_one", "cc100")
    simulator.state.inject(Fault(body=ODD_BODY))
    admin.post(reverse("aliases:request_approve", args=[alias_request.pk]), {"note": "go"})
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    simulator.state.inject(Fault(body=RETRY_BODY))
    admin.post(reverse("aliases:request_retry", args=[alias_request.pk]), {"note": ""})
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert SCRIPT in alias_request.outcome_reason
    assert [call.response_body for call in VicidialCall.objects.order_by("pk")] == [
        ODD_BODY,
        RETRY_BODY,
    ]

    # Exports are data files (attachment, nosniff), not pages: they keep the text as it is.
    pages = every_page(client_for, exports=False)
    raw = [f"{text!r} in {label}" for label, page in pages for text in UNESCAPED if text in page]
    assert not raw, "\n".join(["", *raw])
    detail = next(page for label, page in pages if label.startswith("admin request #"))
    assert detail.count(html.escape(SCRIPT)) >= 2  # the raw answer, and the outcome reason

    forged, reached_the_log = [], False
    for record in all_logs.records:
        message = record.getMessage() + (record.exc_text or "")
        reached_the_log |= MARKER in message
        for line in re.split(r"[\r\n]", message)[1:]:
            if MARKER in line or "alert(1)" in line:
                forged.append(f"{record.name}: {message!r}")
    assert reached_the_log, "VICIdial's text should be in the log, on the call's own line"
    assert not forged, "\n".join(["", *forged])
