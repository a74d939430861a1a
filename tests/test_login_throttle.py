"""django-axes: five wrong passwords lock that username from that address for 15 minutes."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from aliases.models import AuditEvent
from aliases.roles import Role

from .base import PASSWORD, make_user

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


# --- one address across many usernames (password spraying) --------------------------------


@pytest.fixture
def accounts(users):
    return [make_user(f"staff{n}", [Role.SUPERVISOR]).username for n in range(6)]


def spray(client: Client, usernames: list[str], guesses: int = 4) -> list[int]:
    return [
        log_in(client, username, f"guess-{n}").status_code
        for username in usernames
        for n in range(guesses)
    ]


def test_one_address_trying_a_few_passwords_on_many_accounts_is_locked_out(users, accounts, clock):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    statuses = spray(attacker, accounts)
    # Four guesses each never reach the per-username limit of five, but the twentieth
    # failure from the address reaches the per-address limit.
    assert statuses == [200] * 19 + [429] * 5
    assert log_in(attacker, "admin", PASSWORD).status_code == 429
    assert logged_in_as(attacker) is None
    # The accounts themselves are not locked: their owners log in from elsewhere.
    elsewhere = Client(REMOTE_ADDR=ELSEWHERE)
    assert log_in(elsewhere, accounts[0], PASSWORD).status_code == 302


def test_the_address_lock_ends_after_the_cool_off(users, accounts, clock):
    spray(Client(REMOTE_ADDR=ATTACKER), accounts)
    clock.move_to(START + COOL_OFF + timedelta(seconds=5), tick=False)
    attacker = Client(REMOTE_ADDR=ATTACKER)
    assert log_in(attacker, "admin", PASSWORD).status_code == 302


def test_one_person_hammering_their_own_account_does_not_lock_the_office(users, clock):
    """Behind one NAT address: a locked-out colleague counts five at most, not every try."""
    office = Client(REMOTE_ADDR=ATTACKER)
    assert spray(office, ["auditor"], guesses=30)[-1] == 429
    assert log_in(office, "admin", PASSWORD).status_code == 302


def test_a_few_typos_by_several_people_do_not_lock_the_office(users, accounts, clock):
    office = Client(REMOTE_ADDR=ATTACKER)
    assert spray(office, accounts, guesses=3) == [200] * 18
    assert log_in(office, "admin", PASSWORD).status_code == 302


def test_the_address_limit_is_a_setting(users, accounts, clock, settings):
    settings.AXES_IP_FAILURE_LIMIT = 6
    attacker = Client(REMOTE_ADDR=ATTACKER)
    assert spray(attacker, accounts[:2], guesses=3) == [200] * 5 + [429]


# --- throttle first, then record -----------------------------------------------------------


def login_failures() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=Type.LOGIN_FAILED).order_by("sequence"))


def test_a_flood_of_bad_logins_writes_a_bounded_number_of_events(users, clock):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    statuses = [log_in(attacker, "auditor", f"guess-{n}").status_code for n in range(50)]
    assert statuses == [200] * 4 + [429] * 46
    # The five failures that were checked, then one event for all the refusals.
    events = login_failures()
    assert [event.outcome for event in events] == ["failed"] * 5 + ["locked_out"]
    assert "set off the lock" in events[4].reason
    assert events[5].changes == {"lock": "username_at_address"}
    assert "refused without checking the password" in events[5].reason


def test_a_spray_writes_a_bounded_number_of_events(users, clock):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for n in range(60):
        log_in(attacker, f"nobody{n}", "guess")
    events = login_failures()
    assert [event.outcome for event in events] == ["failed"] * 20 + ["locked_out"]
    assert events[-1].changes == {"lock": "address"}


def test_refusals_are_recorded_again_once_per_cool_off(users, clock):
    lock_out()
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for minutes in range(0, 40, 5):
        clock.move_to(START + timedelta(minutes=minutes, seconds=1), tick=False)
        assert log_in(attacker, "auditor", "guess").status_code == 429
    refused = [event for event in login_failures() if event.outcome == "locked_out"]
    # Refusals at 0, 5, ... 35 minutes: recorded at 0, 15 and 30.
    assert [event.occurred_at - START for event in refused] == [
        timedelta(minutes=minutes, seconds=1) for minutes in (0, 15, 30)
    ]


def test_refusals_for_different_locks_are_each_recorded(users, clock):
    lock_out("auditor")
    lock_out("admin")
    attacker = Client(REMOTE_ADDR=ATTACKER)
    log_in(attacker, "auditor", PASSWORD)
    log_in(attacker, "admin", PASSWORD)
    log_in(Client(REMOTE_ADDR=ELSEWHERE), "auditor", "guess")
    refused = [e.actor_username for e in login_failures() if e.outcome == "locked_out"]
    assert refused == ["auditor", "admin"]
