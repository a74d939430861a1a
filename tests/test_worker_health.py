"""The home page tells admins when approvals would wait for nobody: no task worker has been
seen lately, or an approved request that may be called has waited too long."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from aliases import services
from aliases.models import AliasRequest, RequestBatch, VicidialCircuit, WorkerHeartbeat
from aliases.selectors_worker import worker_health

from .base import submit
from .workers import DB_TASKS

NO_WORKER = "No task worker is running"
STALE = "Approved requests are waiting for the task worker"


@pytest.fixture
def db_queue(settings):
    """Approvals go to the database queue, where only a portal_worker takes them."""
    settings.TASKS = DB_TASKS
    return settings


def beat(seen_at=None, worker_id="w1") -> WorkerHeartbeat:
    return WorkerHeartbeat.objects.create(
        worker_id=worker_id, hostname="worker-host", pid=4242, seen_at=seen_at or timezone.now()
    )


def queued(users, alias_id="queued_one") -> AliasRequest:
    alias_request = submit(users["supervisor"], alias_id=alias_id)
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == AliasRequest.Status.QUEUED
    return alias_request


def home_text(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_without_a_heartbeat_admins_are_told_to_start_a_worker(db_queue, client_for):
    page = home_text(client_for("admin"))

    assert NO_WORKER in page
    assert "manage.py portal_worker" in page
    assert "The last one was seen" not in page
    assert NO_WORKER not in home_text(client_for("supervisor"))


def test_a_recent_heartbeat_means_a_worker_is_running(db_queue, client_for):
    beat()

    assert worker_health().worker_missing is False
    assert NO_WORKER not in home_text(client_for("admin"))


def test_a_worker_silent_too_long_counts_as_gone(db_queue, client_for):
    seen = beat().seen_at

    with time_machine.travel(seen + db_queue.WORKER_SILENT_AFTER - timedelta(seconds=1)):
        assert worker_health().worker_missing is False
    with time_machine.travel(seen + db_queue.WORKER_SILENT_AFTER + timedelta(seconds=1)):
        health = worker_health()
        page = home_text(client_for("admin"))

    assert health.worker_missing is True and health.last_seen == seen
    assert NO_WORKER in page and "The last one was seen at" in page


def test_the_newest_of_several_heartbeats_counts(db, db_queue):
    long_ago = timezone.now() - db_queue.WORKER_SILENT_AFTER * 10
    beat(long_ago, worker_id="old")
    beat(worker_id="new")

    assert worker_health().worker_missing is False


def test_tasks_run_at_once_need_no_worker(settings, client_for):
    assert "ImmediateBackend" in settings.TASKS["default"]["BACKEND"]

    assert worker_health().ok
    assert NO_WORKER not in home_text(client_for("admin"))


def test_another_backends_workers_send_no_heartbeat_so_none_is_missed(settings, users):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    alias_request = queued(users)

    assert worker_health().worker_missing is False
    later = alias_request.updated_at + settings.QUEUE_STALE_AFTER + timedelta(seconds=1)
    with time_machine.travel(later):
        assert worker_health().queue_stale is True


def test_an_approval_waiting_too_long_is_shown_with_its_request(db_queue, users, client_for):
    beat()
    alias_request = queued(users)
    stale_at = alias_request.updated_at + db_queue.QUEUE_STALE_AFTER

    with time_machine.travel(stale_at - timedelta(seconds=1)):
        beat(worker_id="still-alive")
        assert worker_health().queue_stale is False
        assert STALE not in home_text(client_for("admin"))
    with time_machine.travel(stale_at + timedelta(seconds=1)):
        beat(worker_id="alive-later")
        health = worker_health()
        page = home_text(client_for("admin"))
        supervisor_page = home_text(client_for("supervisor"))

    assert health.oldest_queued == alias_request
    assert health.queued_for > db_queue.QUEUE_STALE_AFTER
    assert STALE in page and f"/requests/{alias_request.pk}/" in page
    assert STALE not in supervisor_page


def test_the_oldest_waiting_request_is_the_one_named(db_queue, users):
    first = queued(users, alias_id="first_one")
    with time_machine.travel(first.updated_at + timedelta(seconds=30)):
        queued(users, alias_id="second_one")

    assert worker_health().oldest_queued == first


def test_requests_held_by_a_paused_batch_or_stopped_calls_are_not_late(db_queue, users):
    held = queued(users, alias_id="held")
    batch = RequestBatch.objects.create(
        kind=RequestBatch.Kind.APPROVAL, created_by=users["admin"], paused_at=timezone.now()
    )
    AliasRequest.objects.filter(pk=held.pk).update(approval_batch=batch)
    later = held.updated_at + db_queue.QUEUE_STALE_AFTER + timedelta(minutes=1)

    with time_machine.travel(later):
        assert worker_health().oldest_queued is None
        RequestBatch.objects.filter(pk=batch.pk).update(paused_at=None)
        assert worker_health().oldest_queued == held
        VicidialCircuit.objects.create(server=held.server, is_open=True)
        health = worker_health()

    assert health.oldest_queued is None and health.queue_stale is False
