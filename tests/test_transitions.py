"""`transition`: the one step every service takes to move a request and record the move."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from aliases.audit import AuditContext, EventType
from aliases.errors import InvalidTransition
from aliases.models import AliasRequest, AuditEvent
from aliases.services.transitions import transition

from .base import submit

Status = AliasRequest.Status
NOON = datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)


@pytest.fixture
def pending(users):
    return submit(users["supervisor"], logins="1002, cc100,1001")


def move(alias_request, to, **kwargs):
    """Call `transition` the way the services do: on a freshly locked row."""
    kwargs.setdefault("event_type", EventType.REQUEST_APPROVED)
    with transaction.atomic():
        locked = AliasRequest.objects.select_for_update().get(pk=alias_request.pk)
        transition(locked, to, **kwargs)
    alias_request.refresh_from_db()
    return AuditEvent.objects.latest("sequence")


def test_the_move_is_saved_and_recorded_in_one_event(users, pending, time_machine):
    time_machine.move_to(NOON, tick=False)
    events_before = AuditEvent.objects.count()
    context = AuditContext(source_ip="203.0.113.7", user_agent="Browser/1.0")

    event = move(
        pending,
        Status.REJECTED,
        event_type=EventType.REQUEST_REJECTED,
        actor=users["admin"],
        context=context,
        reason="Use the existing sales alias.",
    )

    assert pending.status == Status.REJECTED
    assert pending.completed_at == NOON
    assert AuditEvent.objects.count() == events_before + 1
    assert event.event_type == EventType.REQUEST_REJECTED
    assert event.actor == users["admin"]
    assert event.source_ip == "203.0.113.7"
    assert event.user_agent == "Browser/1.0"
    assert event.correlation_id == context.correlation_id
    assert event.request_id == pending.pk
    assert event.extensions == ["1002", "cc100", "1001"]
    assert event.reason == "Use the existing sales alias."
    assert event.changes == {"status": ["pending", "rejected"]}


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (Status.PENDING, Status.QUEUED),
        (Status.PENDING, Status.CANCELLED),
        (Status.CALLING, Status.NEEDS_VERIFICATION),
        (Status.NEEDS_VERIFICATION, Status.QUEUED),
        (Status.NEEDS_VERIFICATION, Status.SUCCEEDED),
    ],
)
def test_the_event_outcome_is_the_status_reached(pending, start, to):
    AliasRequest.objects.filter(pk=pending.pk).update(status=start)
    event = move(pending, to)
    assert event.outcome == to
    assert event.changes == {"status": [start, to]}


def test_without_a_reason_the_event_reason_is_empty(pending):
    assert move(pending, Status.CANCELLED).reason == ""


def test_extra_changes_sit_beside_the_status_change(users, pending):
    event = move(pending, Status.QUEUED, changes={"decided_by": [None, "admin"]})
    assert event.changes == {"status": ["pending", "queued"], "decided_by": [None, "admin"]}


def test_outcome_reason_is_stored_when_given(pending):
    move(pending, Status.QUEUED)
    move(pending, Status.FAILED, outcome_reason="VICIdial: the alias ID already exists.")
    assert pending.outcome_reason == "VICIdial: the alias ID already exists."


def test_outcome_reason_is_kept_when_not_given(pending):
    AliasRequest.objects.filter(pk=pending.pk).update(
        status=Status.NEEDS_VERIFICATION, outcome_reason="The connection was reset."
    )
    move(pending, Status.QUEUED)
    assert pending.outcome_reason == "The connection was reset."


def test_a_move_to_a_state_that_is_not_final_leaves_completed_at_empty(pending, time_machine):
    time_machine.move_to(NOON, tick=False)
    move(pending, Status.QUEUED)
    assert pending.status == Status.QUEUED
    assert pending.completed_at is None


def test_a_refused_move_saves_nothing_and_records_nothing(pending):
    events_before = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition):
        move(pending, Status.SUCCEEDED)
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    assert AuditEvent.objects.count() == events_before
