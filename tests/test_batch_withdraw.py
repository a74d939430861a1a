"""Withdrawing a paused bulk approval's waiting calls: the way out when the list was wrong.
Each waiting request is cancelled with nothing sent, its alias is free again, its requester
is told, and a call already made keeps its outcome."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from aliases import services
from aliases.errors import InvalidTransition
from aliases.models import AliasRequest, AuditEvent
from aliases.services import bulk_approval, queue

from .base import submit

Status = AliasRequest.Status


@pytest.fixture
def paused_batch(users, simulator, monkeypatch):
    """Three approved requests whose calls wait, in a paused bulk approval; the first of
    them already called (it went before the pause)."""
    held: list[int] = []
    monkeypatch.setattr(bulk_approval, "call_enqueue", lambda pk, context=None: held.append(pk))
    requests = [submit(users["supervisor"], alias_id=f"wrong{n}") for n in range(3)]
    batch = services.requests_approve_many(
        request_ids=[r.pk for r in requests], actor=users["admin"]
    )
    queue.alias_request_call(requests[0].pk)
    services.batch_pause(batch_id=batch.pk, actor=users["admin2"])
    return batch, requests


def test_withdrawing_cancels_the_waiting_calls_and_sends_nothing(
    users, simulator, paused_batch, django_capture_on_commit_callbacks
):
    batch, requests = paused_batch
    with django_capture_on_commit_callbacks(execute=True):
        withdrawn = services.batch_withdraw(
            batch_id=batch.pk, actor=users["admin2"], note="Wrong floor plan."
        )
    assert withdrawn == 2
    for alias_request in requests:
        alias_request.refresh_from_db()
    assert [r.status for r in requests] == [Status.SUCCEEDED, Status.CANCELLED, Status.CANCELLED]
    assert requests[1].outcome_reason.startswith("Approval withdrawn by admin2 while bulk")
    assert "Wrong floor plan." in requests[1].outcome_reason
    sent = [r.params["alias_id"] for r in simulator.state.requests_received]
    assert sent == ["wrong0"]
    event = AuditEvent.objects.filter(request=requests[2]).order_by("sequence").last()
    assert (event.event_type, event.reason) == (
        AuditEvent.Type.REQUEST_CANCELLED,
        "Wrong floor plan.",
    )
    # The alias is free: it can be asked for again.
    assert submit(users["supervisor"], alias_id="wrong1").status == Status.PENDING
    # A later run of a withdrawn request's task does nothing.
    assert queue.alias_request_call(requests[1].pk).startswith("nothing to do")
    # The batch is over, so each requester hears of it once, with the admin's note.
    [told] = [m for m in mail.outbox if m.to == ["supervisor@example.com"]]
    assert "Cancelled" in told.body


def test_only_a_paused_batch_with_a_reason_can_be_withdrawn(users, simulator, paused_batch):
    batch, _ = paused_batch
    with pytest.raises(ValidationError):
        services.batch_withdraw(batch_id=batch.pk, actor=users["admin2"], note="  ")
    services.batch_resume(batch_id=batch.pk, actor=users["admin2"])
    with pytest.raises(InvalidTransition, match="Pause batch"):
        services.batch_withdraw(batch_id=batch.pk, actor=users["admin2"], note="Stop")


def test_the_batch_page_offers_withdrawal_while_paused_and_posts_it(
    users, client_for, simulator, paused_batch
):
    batch, requests = paused_batch
    admin = client_for("admin2")
    page = admin.get(reverse("aliases:batch_detail", args=[batch.pk])).content.decode()
    assert 'data-testid="withdraw-batch"' in page
    response = admin.post(
        reverse("aliases:batch_withdraw", args=[batch.pk]), {"note": "Wrong list"}, follow=True
    )
    assert "2 waiting call(s) of batch" in response.content.decode()
    assert not AliasRequest.objects.filter(status=Status.QUEUED).exists()
    supervisor = client_for("supervisor")
    refused = supervisor.post(reverse("aliases:batch_withdraw", args=[batch.pk]), {"note": "x"})
    assert refused.status_code == 403
