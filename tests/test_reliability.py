"""Exactly-once approval, the credentials circuit breaker, and settling unknown outcomes."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aliases import services
from aliases.errors import (
    DuplicateAliasId,
    FourEyesViolation,
    InvalidTransition,
    VicidialCallsStopped,
)
from aliases.models import Alias, AliasRequest, AuditEvent, VicidialCall, VicidialCallSlot
from aliases.roles import Role
from aliases.services import calls
from aliases.services.calls import PROBABLE_EARLIER_SUCCESS
from aliases.services.verification import ANSWERED_NOT_SETTLED
from aliases.simulator import Fault

from .base import make_user, race, submit

Status = AliasRequest.Status
Type = AuditEvent.Type


def add_phone_alias_calls(simulator) -> int:
    received = simulator.state.requests_received
    return sum(1 for request in received if request.params.get("function") == "add_phone_alias")


@pytest.mark.postgres_only
def test_admins_racing_to_approve_make_exactly_one_vicidial_call(transactional_db, simulator):
    admins = [make_user(f"racer{n}", [Role.ADMIN]) for n in range(6)]
    requester = make_user("asker", [Role.SUPERVISOR])
    alias_request = submit(requester)
    # A slow VICIdial keeps the winner "calling" while the others arrive.
    simulator.state.inject(Fault(delay=0.3))

    outcomes = race(
        len(admins),
        lambda n: services.alias_request_approve(request_id=alias_request.pk, actor=admins[n]),
    )

    winners = [o for o in outcomes if isinstance(o, AliasRequest)]
    conflicts = [o for o in outcomes if isinstance(o, InvalidTransition)]
    assert len(winners) == 1, outcomes
    assert len(conflicts) == len(admins) - 1, outcomes
    assert all("already" in str(conflict) for conflict in conflicts)
    assert add_phone_alias_calls(simulator) == 1
    assert VicidialCall.objects.count() == 1
    assert AuditEvent.objects.filter(event_type=Type.REQUEST_APPROVED).count() == 1
    alias_request.refresh_from_db()
    assert alias_request.status == Status.SUCCEEDED


@pytest.mark.postgres_only
def test_double_click_on_approve_makes_one_call_and_a_clear_message(transactional_db, simulator):
    admin = make_user("clicker", [Role.ADMIN])
    alias_request = submit(make_user("asker", [Role.SUPERVISOR]))
    simulator.state.inject(Fault(delay=0.3))
    url = reverse("aliases:request_approve", args=[alias_request.pk])

    def click(_index: int):
        client = Client()
        client.force_login(admin)
        return client.post(url, {"note": ""}, follow=True)

    responses = race(2, click)
    assert [response.status_code for response in responses] == [200, 200]
    pages = " ".join(response.content.decode() for response in responses)
    assert "already being processed" in pages or "already decided" in pages
    assert add_phone_alias_calls(simulator) == 1


@pytest.fixture
def refused_credentials(settings, simulator):
    settings.VICIDIAL_API_PASS = "not-the-password"
    return simulator


def test_refused_credentials_stop_all_calls_until_an_admin_resumes(
    users, client_for, refused_credentials, settings
):
    simulator = refused_credentials
    first = submit(users["supervisor"], alias_id="first_1")
    second = submit(users["supervisor"], alias_id="second_1")
    services.alias_request_approve(request_id=first.pk, actor=users["admin"])
    first.refresh_from_db()
    assert first.status == Status.FAILED
    assert AuditEvent.objects.filter(event_type=Type.CIRCUIT_OPENED).count() == 1

    with pytest.raises(VicidialCallsStopped, match="VICIDIAL_API_USER"):
        services.alias_request_approve(request_id=second.pk, actor=users["admin"])
    second.refresh_from_db()
    assert second.status == Status.PENDING
    # One bad login, not ten: VICIdial would lock the API user for 15 minutes.
    assert add_phone_alias_calls(simulator) == 1
    assert simulator.state.users["6666"].failed_logins == 1

    admin_home = client_for("admin").get(reverse("aliases:home")).content.decode()
    assert 'data-testid="circuit-banner"' in admin_home
    assert "Resume calls to default" in admin_home
    assert "circuit-banner" not in client_for("supervisor").get("/").content.decode()
    auditor_home = client_for("auditor").get("/").content.decode()
    assert "circuit-banner" in auditor_home
    assert "Resume calls to default" not in auditor_home

    response = client_for("supervisor").post(reverse("aliases:vicidial_resume"))
    assert response.status_code == 403
    settings.VICIDIAL_API_PASS = simulator.state.users["6666"].password
    client_for("admin").post(reverse("aliases:vicidial_resume"))
    assert AuditEvent.objects.filter(event_type=Type.CIRCUIT_RESET).count() == 1
    services.alias_request_approve(request_id=second.pk, actor=users["admin"])
    second.refresh_from_db()
    assert second.status == Status.SUCCEEDED


def test_resuming_calls_that_were_not_stopped_is_refused_cleanly(users, client_for):
    response = client_for("admin").post(reverse("aliases:vicidial_resume"), follow=True)
    assert "not stopped" in response.content.decode()
    assert not AuditEvent.objects.filter(event_type=Type.CIRCUIT_RESET).exists()


def test_vicidial_errors_are_never_retried(users, simulator):
    simulator.state.add_alias("sales_desk", "Existing", "1001")
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert add_phone_alias_calls(simulator) == 1
    alias_request.refresh_from_db()
    assert alias_request.status == Status.FAILED


@pytest.fixture
def unknown_outcome(users, simulator):
    """VICIdial creates the alias, then the connection dies before the answer arrives."""
    simulator.state.inject(Fault(reset=True))
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    return alias_request


def test_reset_after_sending_needs_verification_and_is_not_resent(unknown_outcome, simulator):
    assert unknown_outcome.status == Status.NEEDS_VERIFICATION
    assert add_phone_alias_calls(simulator) == 1
    assert simulator.state.alias("sales_desk") is not None
    assert VicidialCall.objects.get().result == "unknown"


def test_retry_that_finds_the_alias_reports_probable_earlier_success(
    unknown_outcome, client_for, simulator
):
    admin = client_for("admin2")
    page = admin.post(
        reverse("aliases:request_retry", args=[unknown_outcome.pk]), {"note": ""}, follow=True
    ).content.decode()
    unknown_outcome.refresh_from_db()
    assert unknown_outcome.status == Status.NEEDS_VERIFICATION
    assert unknown_outcome.outcome_reason.startswith(PROBABLE_EARLIER_SUCCESS)
    assert "it probably did" in page
    assert add_phone_alias_calls(simulator) == 2

    admin.post(
        reverse("aliases:request_settle", args=[unknown_outcome.pk]),
        {"done_in_vicidial": "yes", "note": "Seen in Admin > Phones > Aliases."},
    )
    unknown_outcome.refresh_from_db()
    assert unknown_outcome.status == Status.SUCCEEDED
    verified = AuditEvent.objects.get(event_type=Type.REQUEST_VERIFIED)
    assert verified.reason == "Seen in Admin > Phones > Aliases."
    alias = Alias.objects.get()
    assert verified.changes == {
        "status": ["needs_verification", "succeeded"],
        "inventory": {
            "alias": alias.pk,
            "state": [None, "active"],
            "alias_name": [None, "Sales desk"],
            "phone_logins": [None, ["1001", "1002"]],
        },
    }


@pytest.mark.parametrize(
    ("trouble", "evidence"),
    [
        ("unreachable", "connection refused"),
        ("refused_login", "ERROR: Login incorrect, please try again: |6666|********|BAD|"),
        ("no_permission", "USER DOES NOT HAVE PERMISSION TO ADD PHONE ALIASES"),
    ],
)
def test_a_retry_that_goes_wrong_leaves_the_request_unverified_holding_its_alias_id(
    unknown_outcome, users, settings, simulator, unused_port, trouble, evidence
):
    """The first call's outcome is unknown and VICIdial holds the alias: whatever stops the
    retry (nothing sent, a refused login, an error checked before "exists"), it settles
    nothing, so the request keeps waiting and nobody else gets the alias ID."""
    if trouble == "unreachable":
        settings.VICIDIAL_API_URL = f"http://127.0.0.1:{unused_port}/vicidial/non_agent_api.php"
    elif trouble == "refused_login":
        settings.VICIDIAL_API_PASS = "Wrong-" + settings.VICIDIAL_API_PASS[::-1]
    else:
        simulator.state.users["6666"].user_level = 7
    services.alias_request_retry(request_id=unknown_outcome.pk, actor=users["admin2"])

    unknown_outcome.refresh_from_db()
    assert unknown_outcome.status == Status.NEEDS_VERIFICATION
    assert unknown_outcome.outcome_reason.startswith("The retry did not settle it")
    assert evidence in unknown_outcome.outcome_reason
    assert "check VICIdial" in unknown_outcome.outcome_reason
    with pytest.raises(DuplicateAliasId, match="already has a live request"):
        submit(users["supervisor2"], alias_id=unknown_outcome.alias_id)
    assert simulator.state.alias(unknown_outcome.alias_id) is not None
    last = AuditEvent.objects.filter(request=unknown_outcome).order_by("sequence").last()
    assert last.event_type == Type.REQUEST_NEEDS_VERIFICATION


def test_retry_when_the_first_call_did_nothing_creates_the_alias(users, simulator):
    simulator.state.inject(Fault(reset=True, process=False))
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    services.alias_request_retry(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.SUCCEEDED
    assert list(alias_request.calls.order_by("attempt").values_list("attempt", "result")) == [
        (1, "unknown"),
        (2, "succeeded"),
    ]


def test_settling_needs_a_note_an_admin_and_another_person(unknown_outcome, users, client_for):
    settle = reverse("aliases:request_settle", args=[unknown_outcome.pk])
    assert client_for("supervisor").post(settle, {"done_in_vicidial": "no"}).status_code == 403
    page = client_for("admin").post(settle, {"done_in_vicidial": "no"}, follow=True)
    assert "what you checked" in page.content.decode()
    both = users["admin"]
    both.groups.add(*users["supervisor"].groups.all())
    own = AliasRequest.objects.filter(pk=unknown_outcome.pk)
    own.update(requester=both, decided_by=users["admin2"])
    with pytest.raises(FourEyesViolation):
        services.alias_request_settle(
            request_id=unknown_outcome.pk, actor=both, done_in_vicidial=False, note="x"
        )
    unknown_outcome.refresh_from_db()
    assert unknown_outcome.status == Status.NEEDS_VERIFICATION


def stuck_request(users, *, minutes_ago: int) -> AliasRequest:
    """What a worker killed mid-call leaves behind: approved, with a call in flight."""
    alias_request = submit(users["supervisor"], alias_id=f"stuck_{minutes_ago}")
    then = timezone.now() - timedelta(minutes=minutes_ago)
    AliasRequest.objects.filter(pk=alias_request.pk).update(
        status=Status.CALLING, decided_by=users["admin"], decided_at=then, updated_at=then
    )
    VicidialCall.objects.create(request=alias_request, function="add_phone_alias", started_at=then)
    return alias_request


def test_reconcile_inflight_moves_stale_calls_to_needs_verification(users, capsys):
    stale = stuck_request(users, minutes_ago=20)
    fresh = stuck_request(users, minutes_ago=1)
    call_command("reconcile_inflight", "--older-than", "600")
    assert "1 stale request(s) moved" in capsys.readouterr().out
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == (Status.NEEDS_VERIFICATION, Status.CALLING)
    call = stale.calls.get()
    assert call.result == "unknown"
    assert "process stopped" in call.transport_error
    assert list(
        AuditEvent.objects.filter(request=stale)
        .order_by("sequence")
        .values_list("event_type", flat=True)
    )[-2:] == [Type.CALL_RECONCILED, Type.REQUEST_NEEDS_VERIFICATION]
    assert fresh.calls.get().result == "in_flight"


def test_reconcile_inflight_refuses_a_cutoff_shorter_than_a_live_call(settings):
    settings.VICIDIAL_TOTAL_DEADLINE = 20.0
    with pytest.raises(CommandError, match="must exceed 60 s"):
        call_command("reconcile_inflight", "--older-than", "59")


def test_reconcile_inflight_cutoff_follows_from_the_total_deadline(users, settings, capsys):
    settings.VICIDIAL_TOTAL_DEADLINE = 100.0  # a live call may take 300 s
    younger = stuck_request(users, minutes_ago=4)
    older = stuck_request(users, minutes_ago=6)
    call_command("reconcile_inflight")
    younger.refresh_from_db()
    older.refresh_from_db()
    assert (younger.status, older.status) == (Status.CALLING, Status.NEEDS_VERIFICATION)


def test_reconcile_inflight_says_nothing_was_sent_when_the_process_died_before_calling(
    users, capsys
):
    """A worker killed while it waited for a free slot leaves no call in flight."""
    waiting = stuck_request(users, minutes_ago=20)
    waiting.calls.all().delete()
    call_command("reconcile_inflight", "--older-than", "600")
    waiting.refresh_from_db()
    assert waiting.status == Status.FAILED
    assert waiting.outcome_reason == (
        "The portal stopped before it called VICIdial: nothing was sent for this approval."
    )
    assert f"#{waiting.pk} stuck_20: failed in vicidial" in capsys.readouterr().out.lower()


def test_an_answer_arriving_after_reconcile_does_not_overwrite_the_admins_view(
    users, simulator, monkeypatch
):
    from aliases.services import queue
    from aliases.vicidial import VicidialClient

    class ReconciledMidCall(VicidialClient):
        def add_phone_alias(self, **kwargs):
            AliasRequest.objects.filter(status=Status.CALLING).update(
                updated_at=timezone.now() - timedelta(hours=1)
            )
            VicidialCall.objects.update(started_at=timezone.now() - timedelta(hours=1))
            services.alias_requests_reconcile_inflight(older_than=timedelta(minutes=10))
            return super().add_phone_alias(**kwargs)

    alias_request = submit(users["supervisor"])
    monkeypatch.setattr(queue, "vicidial_client_ready", lambda _client, **kw: ReconciledMidCall())
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert VicidialCall.objects.get().result == "succeeded"


def test_an_outcome_that_cannot_commit_still_keeps_vicidials_answer(users, simulator, monkeypatch):
    def deadlocked(*args, **kwargs):
        raise DatabaseError("deadlock detected")

    # The last step of the outcome's transaction: the answer's row is written by then.
    monkeypatch.setattr(calls, "transition", deadlocked)
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])

    call = VicidialCall.objects.get()
    assert call.result == "succeeded"
    assert call.http_status == 200
    assert call.response_body.startswith("SUCCESS: add_phone_alias")
    assert call.finished_at is not None
    alias_request.refresh_from_db()
    assert alias_request.status == Status.CALLING  # left for housekeeping
    assert not VicidialCallSlot.objects.filter(holder__gt="").exists()

    AliasRequest.objects.filter(pk=alias_request.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    VicidialCall.objects.update(started_at=timezone.now() - timedelta(minutes=59))
    monkeypatch.undo()
    services.alias_requests_reconcile_inflight(older_than=timedelta(minutes=10))
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert alias_request.outcome_reason == ANSWERED_NOT_SETTLED
    assert VicidialCall.objects.get().response_body == call.response_body
