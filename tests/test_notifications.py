"""Email notifications, sent through a real SMTP server on loopback (aiosmtpd, its own
process) and read back from the Maildir it writes: who gets what, how often, and that no
email ever carries VICIdial's answer, a request's outcome text or a password."""

import email
import email.policy
import logging
import mailbox
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from aliases import services
from aliases.models import AliasRequest, PendingDigest, VicidialCall
from aliases.roles import Role
from aliases.services.notify import APPROVED_EMAIL_DELAY, admins_notify_pending
from aliases.simulator import Fault
from aliases.tasks import call_vicidial, notify_pending_admins, notify_requester

from .base import make_user, race, submit

Status = AliasRequest.Status
DUMMY_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
START = datetime(2030, 5, 6, 9, 0, 0, tzinfo=UTC)


class Inbox:
    """The Maildir aiosmtpd delivers to: every message, as bytes and parsed."""

    def __init__(self, path) -> None:
        self.box = mailbox.Maildir(path, create=True)

    def clear(self) -> None:
        self.box.clear()

    def raw(self) -> list[bytes]:
        return [self.box.get_bytes(key) for key in self.box.iterkeys()]

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in self.raw()]

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [message for message in self.messages() if message["To"] == address]

    def everything(self) -> str:
        """Every message as sent and decoded, to search for what must never be in one."""
        parts = [raw.decode("utf-8", "replace") for raw in self.raw()]
        for message in self.messages():
            parts += [str(message["Subject"]), message.get_content()]
        return "\n".join(parts)


def with_subject(messages: list, text: str) -> list:
    # Maildir keeps no order; what a message says tells them apart.
    return [message for message in messages if text in message["Subject"]]


def body(message: email.message.EmailMessage) -> str:
    return message.get_content()


def address(name: str) -> str:
    return f"{name}@example.com"


def request_url(settings, alias_request: AliasRequest) -> str:
    return settings.PORTAL_BASE_URL + reverse("aliases:request_detail", args=[alias_request.pk])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory):
    maildir = tmp_path_factory.mktemp("smtp") / "Maildir"
    mailbox.Maildir(maildir, create=True)  # its tmp, new and cur folders, before either reads
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
        [
            *(sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"),
            *("-c", "aiosmtpd.handlers.Mailbox", str(maildir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    give_up_at = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > give_up_at:
                process.kill()
                pytest.fail("aiosmtpd did not start")
            time.sleep(0.05)
    yield port, maildir
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def inbox(smtp_server, settings) -> Inbox:
    port, maildir = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    box = Inbox(maildir)
    box.clear()
    return box


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what the block's transactions leave for after their commit, as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def enqueued(task) -> list:
    """What the dummy task backend holds of `task`."""
    results = task.get_backend().results
    return [result for result in results if result.task.module_path == task.module_path]


def approve(alias_request: AliasRequest, actor) -> AliasRequest:
    return services.alias_request_approve(request_id=alias_request.pk, actor=actor)


def assert_nothing_secret(inbox: Inbox, settings) -> None:
    """No VICIdial answer line, call reason, outcome text or API password in any email."""
    sent = inbox.everything()
    assert sent
    forbidden = {settings.VICIDIAL_API_PASS}
    for call in VicidialCall.objects.all():
        forbidden |= {line.strip() for line in call.response_body.splitlines()}
        forbidden.add(call.reason.strip())
    forbidden |= set(AliasRequest.objects.values_list("outcome_reason", flat=True))
    for text in filter(None, forbidden):
        assert text not in sent


def test_a_rejection_reaches_the_requester_with_the_note_and_the_link(
    users, inbox, commit, settings
):
    alias_request = submit(users["supervisor"])
    with commit():
        services.alias_request_reject(
            request_id=alias_request.pk, actor=users["admin"], note="Use the existing sales line."
        )
    [message] = inbox.to(address("supervisor"))
    assert "rejected" in message["Subject"]
    assert "Use the existing sales line." in body(message)
    assert "admin" in body(message)
    assert request_url(settings, alias_request) in body(message)
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert len(inbox.messages()) == 1


def test_a_success_sends_one_email_naming_the_approver_not_an_approval_too(
    users, simulator, inbox, commit, settings
):
    alias_request = submit(users["supervisor"])
    with commit():
        done = approve(alias_request, users["admin"])
    assert done.status == Status.SUCCEEDED
    [message] = inbox.to(address("supervisor"))
    assert done.get_status_display() in message["Subject"]
    assert "approved by admin" in body(message)
    assert request_url(settings, alias_request) in body(message)
    assert_nothing_secret(inbox, settings)


def test_a_failure_says_so_without_vicidials_answer(users, simulator, inbox, commit, settings):
    simulator.state.add_alias("sales_desk", "Already there", "1001")
    alias_request = submit(users["supervisor"])
    with commit():
        done = approve(alias_request, users["admin"])
    assert done.status == Status.FAILED and done.outcome_reason
    [message] = inbox.to(address("supervisor"))
    assert "failed" in message["Subject"]
    assert request_url(settings, alias_request) in body(message)
    assert "ALREADY EXISTS" not in inbox.everything()
    assert_nothing_secret(inbox, settings)


def test_an_unknown_outcome_tells_the_requester_an_admin_checks(
    users, simulator, inbox, commit, settings
):
    simulator.state.inject(Fault(reset=True))
    alias_request = submit(users["supervisor"])
    with commit():
        done = approve(alias_request, users["admin"])
    assert done.status == Status.NEEDS_VERIFICATION
    [message] = inbox.to(address("supervisor"))
    assert "outcome unknown" in message["Subject"]
    assert "An admin checks VICIdial" in body(message)
    assert request_url(settings, alias_request) in body(message)
    assert_nothing_secret(inbox, settings)


def test_the_approval_email_waits_a_minute_and_goes_if_the_call_is_still_on_its_way(
    users, simulator, inbox, commit, settings
):
    settings.TASKS = DUMMY_TASKS  # the call waits in the queue: nothing runs it
    alias_request = submit(users["supervisor"])
    with commit():
        approve(alias_request, users["admin"])
    [waiting] = enqueued(notify_requester)
    delay = waiting.task.run_after - timezone.now()
    assert APPROVED_EMAIL_DELAY - timedelta(seconds=5) < delay <= APPROVED_EMAIL_DELAY
    assert inbox.messages() == []
    assert notify_requester.call(*waiting.args, **waiting.kwargs).startswith("sent")
    [message] = inbox.to(address("supervisor"))
    assert "approved" in message["Subject"]
    assert "approved by admin" in body(message)
    assert request_url(settings, alias_request) in body(message)


def test_the_approval_email_is_skipped_once_the_outcome_is_known(
    users, simulator, inbox, commit, settings
):
    settings.TASKS = DUMMY_TASKS
    alias_request = submit(users["supervisor"])
    with commit():
        approve(alias_request, users["admin"])
    [waiting] = enqueued(notify_requester)
    call_vicidial.call(alias_request.pk)
    alias_request.refresh_from_db()
    assert alias_request.status == Status.SUCCEEDED
    assert notify_requester.call(*waiting.args, **waiting.kwargs).startswith("skipped")
    assert inbox.messages() == []


def test_a_requester_without_an_email_address_is_skipped(users, inbox, commit):
    users["supervisor"].email = ""
    users["supervisor"].save()
    alias_request = submit(users["supervisor"])
    with commit():
        services.alias_request_reject(request_id=alias_request.pk, actor=users["admin"], note="No.")
    assert inbox.messages() == []
    assert notify_requester.call(alias_request.pk, "rejected").startswith("skipped")


def test_a_mail_server_that_is_down_fails_the_task_but_not_the_decision(
    users, inbox, commit, settings, unused_port, caplog
):
    settings.EMAIL_PORT = unused_port
    alias_request = submit(users["supervisor"])
    with caplog.at_level(logging.ERROR), commit():
        services.alias_request_reject(
            request_id=alias_request.pk, actor=users["admin"], note="Not now."
        )
    alias_request.refresh_from_db()
    assert alias_request.status == Status.REJECTED
    assert "Could not send" in caplog.text
    result = notify_requester.enqueue(alias_request.pk, "rejected")
    assert result.status == TaskResultStatus.FAILED


def test_each_admin_but_the_requester_gets_at_most_one_digest_per_interval(
    users, inbox, commit, settings
):
    every = settings.NOTIFY_PENDING_EVERY
    with time_machine.travel(START, tick=False) as clock:
        with commit():
            own = submit(users["admin"], alias_id="admins_own")
        # Four-eyes: admin's own request is for the others to decide.
        assert inbox.to(address("admin")) == []
        [first] = inbox.to(address("admin2"))
        assert "1 alias request is waiting" in first["Subject"]
        assert request_url(settings, own) in body(first)
        assert settings.PORTAL_BASE_URL + reverse("aliases:home") in body(first)
        for name in ("supervisor", "auditor", "outsider"):
            assert inbox.to(address(name)) == []

        clock.shift(timedelta(minutes=1))
        with commit():
            second = submit(users["supervisor"], alias_id="second_one")
        assert len(inbox.to(address("admin2"))) == 1  # emailed a minute ago: nothing more
        [mine] = inbox.to(address("admin"))
        assert request_url(settings, second) in body(mine)
        assert request_url(settings, own) not in body(mine)

        clock.shift(every - timedelta(seconds=30))
        with commit():
            third = submit(users["supervisor"], alias_id="third_one")
        assert len(inbox.to(address("admin2"))) == 2
        [later] = with_subject(inbox.to(address("admin2")), "3 alias requests are waiting")
        for alias_request in (own, second, third):
            assert request_url(settings, alias_request) in body(later)
        # admin's interval started a minute later: not over yet.
        assert len(inbox.to(address("admin"))) == 1


def test_a_digest_within_the_interval_is_deferred_to_its_end(users, inbox, commit, settings):
    settings.TASKS = DUMMY_TASKS
    backend = notify_pending_admins.get_backend()
    every = settings.NOTIFY_PENDING_EVERY
    with time_machine.travel(START, tick=False) as clock:
        with commit():
            submit(users["supervisor"], alias_id="first_one")
        notify_pending_admins.call()
        assert len(inbox.messages()) == 2  # admin and admin2
        backend.clear()

        clock.shift(timedelta(minutes=1))
        with commit():
            submit(users["supervisor"], alias_id="second_one")
        [submitted] = backend.results
        notify_pending_admins.call(*submitted.args, **submitted.kwargs)
        assert len(inbox.messages()) == 2
        deferred = [result for result in backend.results if result.kwargs.get("user_id")]
        assert {result.kwargs["user_id"] for result in deferred} == {
            users["admin"].pk,
            users["admin2"].pk,
        }
        assert {result.task.run_after for result in deferred} == {START + every}

        clock.move_to(START + every)
        for result in deferred:
            notify_pending_admins.call(*result.args, **result.kwargs)
            notify_pending_admins.call(*result.args, **result.kwargs)  # delivered twice
        # A deferred digest that finds the admin emailed does not defer another one.
        assert len(backend.results) == 1 + len(deferred)
        for name in ("admin", "admin2"):
            assert with_subject(inbox.to(address(name)), "2 alias requests are waiting")
        assert len(inbox.messages()) == 4


def test_submissions_in_one_transaction_enqueue_one_digest(users, commit, settings):
    # The database queue tells a digest already waits; the worker is not running.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with commit(), transaction.atomic():
        for index in range(3):
            submit(users["supervisor"], alias_id=f"bulk_{index}")
    waiting = DBTaskResult.objects.filter(task_path=notify_pending_admins.module_path)
    assert waiting.count() == 1


@pytest.mark.postgres_only
def test_two_workers_sending_digests_at_once_email_each_admin_once(
    transactional_db, inbox, settings
):
    settings.TASKS = DUMMY_TASKS
    admins = [make_user(f"boss{index}", [Role.ADMIN]) for index in range(3)]
    # Emailed long ago: the rows exist, so only their lock keeps two senders apart.
    long_ago = timezone.now() - 2 * settings.NOTIFY_PENDING_EVERY
    for admin in admins:
        PendingDigest.objects.create(user=admin, last_sent_at=long_ago)
    submit(make_user("asker", [Role.SUPERVISOR]))
    race(4, lambda _index: admins_notify_pending())
    for admin in admins:
        assert len(inbox.to(address(admin.username))) == 1


def test_refused_credentials_tell_the_admins_calls_are_stopped(
    users, simulator, inbox, commit, settings
):
    settings.VICIDIAL_API_PASS = "Wrong-" + settings.VICIDIAL_API_PASS[::-1]
    alias_request = submit(users["supervisor"])
    with commit():
        done = approve(alias_request, users["admin"])
    assert done.status == Status.FAILED
    for name in ("admin", "admin2"):
        [message] = inbox.to(address(name))
        assert "calls stopped" in message["Subject"]
        assert "default" in message["Subject"]
        text = body(message)
        assert "VICIDIAL_API_USER" in text and "VICIDIAL_API_PASS" in text
        assert settings.PORTAL_BASE_URL + reverse("aliases:home") in text
    assert len(inbox.to(address("supervisor"))) == 1  # its failure
    assert inbox.to(address("auditor")) == []
    sent = inbox.everything()
    assert "Login incorrect" not in sent
    assert simulator.state.users["6666"].password not in sent
    assert_nothing_secret(inbox, settings)


def test_a_password_typed_into_a_note_is_masked_for_every_server(users, inbox, commit, settings):
    east_password = "East-" + settings.VICIDIAL_API_PASS[::-1]
    settings.VICIDIAL_SERVERS = {
        "east": {
            "API_URL": "http://127.0.0.1:9/vicidial/non_agent_api.php",
            "API_PASS": east_password,
        }
    }
    alias_request = submit(users["supervisor"])
    note = f"Try {settings.VICIDIAL_API_PASS} or {east_password} yourself."
    with commit():
        services.alias_request_reject(request_id=alias_request.pk, actor=users["admin"], note=note)
    [message] = inbox.to(address("supervisor"))
    assert "yourself." in body(message)
    assert settings.VICIDIAL_API_PASS not in inbox.everything()
    assert east_password not in inbox.everything()


def test_a_bulk_approval_tells_each_requester_once_with_every_outcome(
    transactional_db, users, simulator, inbox, settings
):
    # Real commits: each call's step commits on its own, as in the worker, so an email sent
    # after the first call (before the rest are approved) would show.
    from aliases.services.bulk_approval import requests_approve_many

    simulator.state.add_alias("taken", "Already there", "1001")
    theirs = [
        submit(users["supervisor"], alias_id="bulk_one"),
        submit(users["supervisor"], alias_id="taken"),
        submit(users["supervisor"], alias_id="bulk_two"),
    ]
    other = submit(users["supervisor2"], alias_id="bulk_other")
    batch = requests_approve_many(
        request_ids=[r.pk for r in [*theirs, other]], actor=users["admin"]
    )
    # One email per requester, not one per request (nor an "approved" one each).
    [mine] = inbox.to(address("supervisor"))
    [others] = inbox.to(address("supervisor2"))
    assert mine["Subject"] == f"Bulk approval #{batch.pk}: 2 of your 3 requests done"
    text = body(mine)
    for alias_request in theirs:
        alias_request.refresh_from_db()
        assert (
            f"{alias_request.get_status_display()}\n  {request_url(settings, alias_request)}"
            in text
        )
    assert "bulk_other" not in text and "bulk_other" in body(others)
    # No link to the batch's page: a requester sees their requests, not others' batches.
    assert reverse("aliases:batch_detail", args=[batch.pk]) not in text
    assert_nothing_secret(inbox, settings)
    # Told once: a later step of the batch's requests emails per request again.
    batch.refresh_from_db()
    assert batch.requesters_notified_at is not None
