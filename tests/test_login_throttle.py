"""django-axes: five wrong passwords lock that username from that address for 15 minutes."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from aliases.models import AuditEvent

from .base import PASSWORD

Type = AuditEvent.Type
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
COOL_OFF = timedelta(minutes=15)


def log_in(client: Client, username: str, password: str, url: str = "login"):
    return client.post(reverse(url), {"username": username, "password": password})


def logged_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def failures(username: str = "auditor", ip: str = ATTACKER) -> int:
    return AuditEvent.objects.filter(
        event_type=Type.LOGIN_FAILED, actor_username=username, source_ip=ip
    ).count()


def lock_out(username: str = "auditor", ip: str = ATTACKER) -> list[int]:
    attacker = Client(REMOTE_ADDR=ip)
    return [log_in(attacker, username, f"guess-{n}").status_code for n in range(5)]


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def test_five_wrong_passwords_lock_the_username_from_that_address(users, clock):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    statuses = [log_in(attacker, "auditor", f"guess-{n}").status_code for n in range(5)]
    # Four plain refusals; the fifth failure is the one that locks.
    assert statuses == [200, 200, 200, 200, 429]
    assert failures() == 5

    right = log_in(attacker, "auditor", PASSWORD)
    assert right.status_code == 429
    assert "Too many failed log-ins" in right.content.decode()
    assert logged_in_as(attacker) is None
    # The refused attempt is on the record too; nobody logged in.
    assert failures() == 6
    assert not AuditEvent.objects.filter(event_type=Type.LOGIN_SUCCEEDED).exists()


def test_while_locked_the_answer_does_not_tell_whether_the_password_was_right(users, clock):
    lock_out()
    right = log_in(Client(REMOTE_ADDR=ATTACKER), "auditor", PASSWORD)
    wrong = log_in(Client(REMOTE_ADDR=ATTACKER), "auditor", "guess-6")

    def normalised(response) -> bytes:
        return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", response.content)

    assert (right.status_code, normalised(right)) == (wrong.status_code, normalised(wrong))


def test_the_same_username_from_another_address_still_logs_in(users, clock):
    lock_out()
    elsewhere = Client(REMOTE_ADDR=ELSEWHERE)
    response = log_in(elsewhere, "auditor", PASSWORD)
    assert (response.status_code, response["Location"]) == (302, reverse("aliases:home"))
    assert logged_in_as(elsewhere) == str(users["auditor"].pk)
    success = AuditEvent.objects.get(event_type=Type.LOGIN_SUCCEEDED)
    assert (success.actor, success.source_ip) == (users["auditor"], ELSEWHERE)


def test_another_username_from_the_locked_address_still_logs_in(users, clock):
    lock_out()
    attacker = Client(REMOTE_ADDR=ATTACKER)
    response = log_in(attacker, "admin", PASSWORD)
    assert response.status_code == 302
    assert logged_in_as(attacker) == str(users["admin"].pk)


def test_the_lock_holds_on_the_admin_login_too(users, clock):
    lock_out()
    attacker = Client(REMOTE_ADDR=ATTACKER)
    assert log_in(attacker, "auditor", PASSWORD, url="admin:login").status_code == 429
    assert logged_in_as(attacker) is None


def test_a_forged_forwarded_for_header_does_not_move_the_attacker(users, clock):
    """X-Forwarded-For is not trusted unless a proxy is configured (AUDIT_TRUST_...)."""
    lock_out()
    forged = Client(REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=ELSEWHERE)
    assert log_in(forged, "auditor", PASSWORD).status_code == 429
    assert logged_in_as(forged) is None


@pytest.mark.parametrize("spelling", [" auditor", "auditor ", "\tauditor", "ａｕｄｉｔｏｒ"])
def test_other_spellings_of_the_username_do_not_escape_the_lock(users, clock, spelling):
    """Django strips and NFKC-normalises the username: these all authenticate as auditor."""
    lock_out()
    attacker = Client(REMOTE_ADDR=ATTACKER)
    assert log_in(attacker, spelling, PASSWORD).status_code == 429
    assert logged_in_as(attacker) is None
    # The same spelling works from an address that is not locked: it really is auditor.
    elsewhere = Client(REMOTE_ADDR=ELSEWHERE)
    assert log_in(elsewhere, spelling, PASSWORD).status_code == 302
    assert logged_in_as(elsewhere) == str(users["auditor"].pk)


def test_guesses_under_other_spellings_count_towards_the_same_lock(users, clock):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    spellings = ["auditor", " auditor", "auditor ", "\tauditor", "ａｕｄｉｔｏｒ"]
    assert [log_in(attacker, name, "guess").status_code for name in spellings][-1] == 429
    assert log_in(attacker, "auditor", PASSWORD).status_code == 429


def test_the_lock_ends_after_the_cool_off(users, clock):
    lock_out()
    clock.move_to(START + COOL_OFF + timedelta(seconds=5), tick=False)
    attacker = Client(REMOTE_ADDR=ATTACKER)
    response = log_in(attacker, "auditor", PASSWORD)
    assert response.status_code == 302
    assert logged_in_as(attacker) == str(users["auditor"].pk)


def test_trying_during_the_lock_keeps_it_locked(users, clock):
    """The cool-off is 15 minutes without attempts: hammering does not wait it out."""
    lock_out()
    attacker = Client(REMOTE_ADDR=ATTACKER)
    last_try = START + COOL_OFF - timedelta(seconds=5)
    clock.move_to(last_try, tick=False)
    assert log_in(attacker, "auditor", PASSWORD).status_code == 429
    clock.move_to(START + COOL_OFF + timedelta(seconds=5), tick=False)
    assert log_in(attacker, "auditor", "guess").status_code == 429
    clock.move_to(START + COOL_OFF * 2 + timedelta(seconds=10), tick=False)
    assert log_in(attacker, "auditor", PASSWORD).status_code == 302


def test_a_successful_log_in_starts_the_count_again(users, clock):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    assert [log_in(attacker, "auditor", "guess").status_code for _ in range(4)] == [200] * 4
    assert log_in(attacker, "auditor", PASSWORD).status_code == 302
    fresh = Client(REMOTE_ADDR=ATTACKER)
    assert [log_in(fresh, "auditor", "guess").status_code for _ in range(5)] == [200] * 4 + [429]
