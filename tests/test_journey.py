"""The main path over HTTP with Django's test client, against the simulator as a real server."""

import uuid

import pytest
from django.urls import reverse

from aliases.models import AliasRequest, VicidialCall
from aliases.simulator import Fault

from .base import submit

Status = AliasRequest.Status

NEW_REQUEST = {
    "alias_id": "xyz100",
    "alias_name": "XYZ testing",
    "phone_logins": "cc100, bb100",
    "justification": "Queue overflow line.",
}


def approve(client, alias_request, note="ok"):
    return client.post(
        reverse("aliases:request_approve", args=[alias_request.pk]), {"note": note}, follow=True
    )


def test_supervisor_submits_admin_approves_alias_done_in_vicidial(client_for, simulator):
    supervisor = client_for("supervisor")
    response = supervisor.post(
        reverse("aliases:request_new"), {**NEW_REQUEST, "submission_token": uuid.uuid4()}
    )
    alias_request = AliasRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("aliases:request_detail", args=[alias_request.pk])
    assert alias_request.status == Status.PENDING
    assert alias_request.logins_in_order() == ["cc100", "bb100"]

    response = approve(client_for("admin"), alias_request, note="Fine by me.")
    assert response.status_code == 200
    alias_request.refresh_from_db()
    assert alias_request.status == Status.SUCCEEDED
    assert alias_request.decision_note == "Fine by me."

    stored = simulator.state.alias("xyz100")
    assert (stored.alias_name, stored.logins_list) == ("XYZ testing", "cc100,bb100")

    call = VicidialCall.objects.get()
    body = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|xyz100|XYZ testing|"
    body += "cc100,bb100\n"
    assert call.response_body == body
    assert (call.result, call.http_status, call.keyword) == ("succeeded", 200, "SUCCESS")
    assert call.source == f"portal{alias_request.pk}"
    assert call.sent_params[-1] == ["source", f"portal{alias_request.pk}"]

    page = supervisor.get(reverse("aliases:request_detail", args=[alias_request.pk]))
    assert "Created in VICIdial" in page.content.decode()
    assert body.strip() in page.content.decode()


@pytest.mark.parametrize(
    ("setup", "fields", "reason"),
    [
        (
            lambda state: state.add_alias("xyz100", "Existing", "cc100"),
            {},
            "PHONE ALIAS ALREADY EXISTS",
        ),
        (None, {"phone_logins": "cc100, zz999"}, "PHONE DOES NOT EXIST"),
        (
            lambda state: state.users["6666"].__setattr__("user_level", 7),
            {},
            "USER DOES NOT HAVE PERMISSION TO ADD PHONE ALIASES",
        ),
        (
            lambda state: state.users["6666"].__setattr__("api_allowed_functions", "version"),
            {},
            "USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION",
        ),
    ],
    ids=["alias-exists", "phone-missing", "user-level", "function-not-allowed"],
)
def test_vicidial_errors_fail_the_request_with_the_reason_shown(
    client_for, users, simulator, setup, fields, reason
):
    if setup:
        setup(simulator.state)
    alias_request = submit(users["supervisor"], **_as_submit_args({**NEW_REQUEST, **fields}))
    response = approve(client_for("admin"), alias_request)
    alias_request.refresh_from_db()
    assert alias_request.status == Status.FAILED
    assert reason in alias_request.outcome_reason
    assert reason in response.content.decode()
    call = VicidialCall.objects.get()
    assert (call.result, call.keyword) == ("rejected", "ERROR")


def _as_submit_args(form: dict) -> dict:
    return {
        "alias_id": form["alias_id"],
        "alias_name": form["alias_name"],
        "logins": form["phone_logins"],
        "justification": form["justification"],
    }


def test_success_body_with_http_500_still_counts_as_created(client_for, users, simulator):
    simulator.state.inject(Fault(status=500))  # the real body, with HTTP 500
    alias_request = submit(users["supervisor"], alias_id="xyz100", logins="cc100")
    approve(client_for("admin"), alias_request)
    alias_request.refresh_from_db()
    assert alias_request.status == Status.SUCCEEDED
    assert VicidialCall.objects.get().http_status == 500


def test_unreachable_vicidial_fails_without_500_and_records_the_error(
    client_for, users, settings, unused_port
):
    settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
    alias_request = submit(users["supervisor"])
    response = approve(client_for("admin"), alias_request)
    assert response.status_code == 200
    alias_request.refresh_from_db()
    assert alias_request.status == Status.FAILED
    calls = list(VicidialCall.objects.order_by("attempt"))
    assert [call.attempt for call in calls] == [1, 2, 3]
    assert all(call.result == "not_sent" and call.transport_error for call in calls)
    assert "refused" in alias_request.outcome_reason.lower()


def test_timeout_leaves_the_request_needing_verification(client_for, users, simulator, settings):
    settings.VICIDIAL_TIMEOUT = 0.3
    simulator.state.inject(Fault(delay=1.5))
    alias_request = submit(users["supervisor"])
    response = approve(client_for("admin"), alias_request)
    assert response.status_code == 200
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    call = VicidialCall.objects.get()
    assert call.result == "unknown"
    assert "timeout" in call.transport_error.lower()
    assert len(simulator.state.requests_received) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, ""),
        (200, "<html><body>Service Unavailable</body></html>"),
        (502, "Bad gateway"),
        (200, "\x00\x01binary"),
    ],
    ids=["empty-500", "html", "502", "nul-bytes"],
)
def test_unrecognised_answers_need_verification(client_for, users, simulator, status, body):
    simulator.state.inject(Fault(status=status, body=body))
    alias_request = submit(users["supervisor"])
    approve(client_for("admin"), alias_request)
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    call = VicidialCall.objects.get()
    assert (call.result, call.keyword, call.http_status) == ("unknown", "UNRECOGNISED", status)
    # Word for word, except NUL, which PostgreSQL text cannot hold.
    assert call.response_body == body.replace("\x00", "\ufffd")


def test_wrong_api_password_is_recorded_without_the_password(
    client_for, users, simulator, settings, django_db_dump
):
    wrong = "Wrong" + settings.VICIDIAL_API_PASS[::-1]
    settings.VICIDIAL_API_PASS = wrong
    alias_request = submit(users["supervisor"])
    response = approve(client_for("admin"), alias_request)
    alias_request.refresh_from_db()
    assert alias_request.status == Status.FAILED
    call = VicidialCall.objects.get()
    assert call.result == "auth_failed"
    assert call.response_body.startswith("ERROR: Login incorrect, please try again: |6666|")
    # VICIdial echoed the password; it must be masked before it is stored or shown.
    assert wrong in simulator.state.requests_received[-1].params["pass"]
    assert wrong not in django_db_dump()
    assert wrong not in response.content.decode()
