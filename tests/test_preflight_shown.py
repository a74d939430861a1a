"""The approval's audit event keeps the pre-flight checks as the approver's page showed them,
and the checks as they stood at approval when those differ."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from aliases.models import AuditEvent, Extension

from .base import submit

APPROVED = AuditEvent.Type.REQUEST_APPROVED


def shown_token(page: str) -> str:
    return re.search(r'name="preflight_shown" value="([^"]+)"', page)[1]


def approve(client, alias_request, token: str | None):
    data = {"note": "Looks right."}
    if token is not None:
        data["preflight_shown"] = token
    return client.post(reverse("aliases:request_approve", args=[alias_request.pk]), data)


def phone_check(checks) -> dict:
    return next(check for check in checks if check["check"] == "phone:1001")


def test_the_checks_shown_are_recorded_and_a_later_change_beside_them(users, client_for, simulator):
    Extension.objects.create(login="1001", extension="1001", protocol="SIP")
    alias_request = submit(users["supervisor"], logins="1001")
    admin = client_for("admin")
    page = admin.get(reverse("aliases:request_detail", args=[alias_request.pk]))
    token = shown_token(page.content.decode())
    Extension.objects.all().delete()  # the catalogue changes while the page is open

    approve(admin, alias_request, token)

    changes = AuditEvent.objects.get(event_type=APPROVED).changes
    assert phone_check(changes["preflight"])["ok"] is True  # what the admin saw
    assert phone_check(changes["preflight_at_approval"])["ok"] is False  # what it was by then
    assert "preflight_shown" not in changes and changes["preflight_shown_at"]


def test_unchanged_checks_are_recorded_once_with_when_they_were_shown(users, client_for, simulator):
    alias_request = submit(users["supervisor"], logins="1001")
    admin = client_for("admin")
    page = admin.get(reverse("aliases:request_detail", args=[alias_request.pk]))
    approve(admin, alias_request, shown_token(page.content.decode()))
    changes = AuditEvent.objects.get(event_type=APPROVED).changes
    assert "preflight_at_approval" not in changes and "preflight_shown" not in changes
    assert changes["preflight_shown_at"]


def page_token(client, alias_request) -> str:
    page = client.get(reverse("aliases:request_detail", args=[alias_request.pk]))
    return shown_token(page.content.decode())


@pytest.mark.parametrize("case", ["other_request", "other_viewer", "invalid", "expired"])
def test_a_token_that_proves_nothing_is_recorded_as_such(users, client_for, simulator, case):
    Extension.objects.create(login="1001", extension="1001", protocol="SIP")
    alias_request = submit(users["supervisor"], logins="1001")
    other = submit(users["supervisor"], alias_id="other_desk", logins="1001")
    admin = client_for("admin")
    if case == "other_request":
        token = page_token(admin, other)
    elif case == "other_viewer":
        token = page_token(client_for("admin2"), alias_request)
    elif case == "invalid":
        token = page_token(admin, alias_request)[:-3] + "xyz"
    else:
        with time_machine.travel(timezone.now() - timedelta(hours=2)):
            token = page_token(admin, alias_request)
    Extension.objects.all().delete()
    approve(admin, alias_request, token)
    changes = AuditEvent.objects.get(event_type=APPROVED).changes
    assert changes["preflight_shown"] == case
    assert phone_check(changes["preflight"])["ok"] is False  # the checks at approval


def test_an_approval_without_a_page_says_the_checks_were_not_shown(users, client_for, simulator):
    alias_request = submit(users["supervisor"], logins="1001")
    approve(client_for("admin"), alias_request, None)
    assert AuditEvent.objects.get(event_type=APPROVED).changes["preflight_shown"] == "not_posted"
