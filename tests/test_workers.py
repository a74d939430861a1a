"""The task worker as it runs in production: real `manage.py portal_worker` processes, the
database queue, the VICIdial simulator over HTTP, and signals sent to the processes.

What they prove: every approval reaches VICIdial exactly once however many workers run, a
task delivered twice still makes one call, a killed worker loses nothing and repeats
nothing, a stopped one finishes its call first, and the rate limit holds across workers.
"""

import statistics
import threading
from datetime import timedelta

import pytest
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from aliases import services
from aliases.models import AliasRequest, VicidialCall, WorkerHeartbeat
from aliases.simulator import DEMO_PHONES
from aliases.simulator.state import MAX_FAULT_DELAY, Fault
from aliases.tasks import call_vicidial

from .base import submit
from .workers import wait_for

pytestmark = pytest.mark.postgres_only

Status = AliasRequest.Status
FINAL = (Status.SUCCEEDED, Status.FAILED, Status.NEEDS_VERIFICATION)
# Generous: the machine may be busy with other test runs; a healthy run takes a fraction.
OUTCOME_TIMEOUT = 120.0
ADD = "add_phone_alias"


@pytest.fixture
def fast_calls(settings, simulator):
    """Two calls in flight at once and no rate limit, here and in every worker started."""
    settings.VICIDIAL_MAX_IN_FLIGHT = 2
    settings.VICIDIAL_CALLS_PER_SECOND = 0
    return simulator


def submitted(users, count: int, prefix: str = "w") -> list[AliasRequest]:
    logins = [phone.login for phone in DEMO_PHONES]
    return [
        submit(
            users["supervisor"],
            alias_id=f"{prefix}{number}",
            alias_name=f"Worker test {number}",
            logins=logins[number % len(logins)],
        )
        for number in range(count)
    ]


def approve(users, requests: list[AliasRequest]) -> None:
    for alias_request in requests:
        services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])


def call_tasks():
    """The queue's call_vicidial tasks (other tasks, such as emails, may share it)."""
    return DBTaskResult.objects.filter(task_path=call_vicidial.module_path)


def adds_received(simulator) -> list:
    with simulator.state.lock:
        return [r for r in simulator.state.requests_received if r.params.get("function") == ADD]


def statuses(requests: list[AliasRequest]) -> list[str]:
    ids = [alias_request.pk for alias_request in requests]
    by_id = dict(AliasRequest.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[pk] for pk in ids]


def wait_until_final(requests: list[AliasRequest], timeout: float = OUTCOME_TIMEOUT) -> None:
    wait_for(
        lambda: all(status in FINAL for status in statuses(requests)),
        timeout=timeout,
        what=f"{len(requests)} requests to reach an outcome",
    )


def calls_per_request(requests: list[AliasRequest]) -> list[int]:
    ids = [alias_request.pk for alias_request in requests]
    counts = dict.fromkeys(ids, 0)
    for request_id in VicidialCall.objects.filter(request_id__in=ids).values_list(
        "request_id", flat=True
    ):
        counts[request_id] += 1
    return [counts[pk] for pk in ids]


def on_first_add(simulator) -> threading.Event:
    """Set when the first add_phone_alias reaches the simulator (the call is then in flight)."""
    arrived = threading.Event()

    def notice(received) -> None:
        if received.params.get("function") == ADD:
            arrived.set()

    simulator.state.on_receive = notice
    return arrived


def test_two_workers_make_each_of_200_approvals_call_vicidial_exactly_once(
    users, fast_calls, workers
):
    requests = submitted(users, 200)
    workers.start(2)

    approve(users, requests)
    wait_until_final(requests)

    assert statuses(requests) == [Status.SUCCEEDED] * 200
    assert calls_per_request(requests) == [1] * 200
    received = adds_received(fast_calls)
    assert len(received) == 200
    assert sorted(r.params["alias_id"] for r in received) == sorted(r.alias_id for r in requests)
    # Both workers took a share: the calls were really made in parallel processes.
    ran_by = (
        call_tasks().filter(status=TaskResultStatus.SUCCESSFUL).values_list("worker_ids", flat=True)
    )
    assert len({worker_id for ids in ran_by for worker_id in ids}) == 2


def test_a_task_delivered_twice_makes_one_call(users, fast_calls, workers):
    [alias_request] = submitted(users, 1)
    approve(users, [alias_request])
    call_vicidial.enqueue(alias_request.pk)  # the same call again, as a broker may deliver it
    assert call_tasks().filter(status=TaskResultStatus.READY).count() == 2

    workers.start(2)
    done = wait_for(
        lambda: (
            list(call_tasks().successful().values_list("return_value", flat=True))
            if call_tasks().successful().count() == 2
            else None
        ),
        timeout=OUTCOME_TIMEOUT,
        what="both deliveries to run",
    )

    called, skipped = sorted(done)
    assert called == "called VICIdial: succeeded"
    assert skipped.startswith("nothing to do: the request"), skipped
    assert statuses([alias_request]) == [Status.SUCCEEDED]
    assert calls_per_request([alias_request]) == [1]
    assert len(adds_received(fast_calls)) == 1


def test_a_worker_killed_mid_call_loses_nothing_and_repeats_nothing(users, fast_calls, workers):
    requests = submitted(users, 6)
    approve(users, requests)
    # The first call hangs at VICIdial, the worker dies while it waits for the answer.
    fast_calls.state.inject(Fault(delay=MAX_FAULT_DELAY))
    arrived = on_first_add(fast_calls)
    [doomed] = workers.start(1)
    assert arrived.wait(OUTCOME_TIMEOUT), doomed.output()
    doomed.kill()

    [hung_alias_id] = [r.params["alias_id"] for r in adds_received(fast_calls)]
    [hung] = [r for r in requests if r.alias_id == hung_alias_id]
    rest = [r for r in requests if r.pk != hung.pk]
    assert statuses([hung]) == [Status.CALLING]
    assert list(hung.calls.values_list("result", flat=True)) == [VicidialCall.Result.IN_FLIGHT]
    assert set(statuses(rest)) == {Status.QUEUED}

    workers.start(1)
    wait_until_final(rest)
    assert statuses(rest) == [Status.SUCCEEDED] * len(rest)
    assert statuses([hung]) == [Status.CALLING]  # nobody called it again
    settled = services.alias_requests_reconcile_inflight(older_than=timedelta(0))

    assert [r.pk for r in settled] == [hung.pk]
    assert statuses([hung]) == [Status.NEEDS_VERIFICATION]
    assert calls_per_request(requests) == [1] * len(requests)
    assert sorted(r.params["alias_id"] for r in adds_received(fast_calls)) == sorted(
        r.alias_id for r in requests
    )


def test_sigterm_lets_the_running_call_finish_and_be_recorded(users, fast_calls, workers):
    [alias_request] = submitted(users, 1)
    approve(users, [alias_request])
    fast_calls.state.inject(Fault(delay=1.0))  # answered, within the worker's read timeout
    arrived = on_first_add(fast_calls)
    [worker] = workers.start(1)
    assert arrived.wait(OUTCOME_TIMEOUT), worker.output()

    worker.terminate()
    exit_code = worker.wait()

    assert exit_code == 0, worker.output()
    assert statuses([alias_request]) == [Status.SUCCEEDED]
    assert list(alias_request.calls.values_list("result", flat=True)) == [
        VicidialCall.Result.SUCCEEDED
    ]
    assert not WorkerHeartbeat.objects.filter(pid=worker.pid).exists()


def test_a_worker_started_later_takes_the_approvals_queued_meanwhile(users, fast_calls, workers):
    requests = submitted(users, 5)
    approve(users, requests)
    assert statuses(requests) == [Status.QUEUED] * 5
    assert adds_received(fast_calls) == []

    workers.start(1)
    wait_until_final(requests)

    assert statuses(requests) == [Status.SUCCEEDED] * 5
    assert len(adds_received(fast_calls)) == 5


def test_the_rate_limit_spaces_calls_across_workers(users, settings, simulator, workers):
    settings.VICIDIAL_MAX_IN_FLIGHT = 2
    settings.VICIDIAL_CALLS_PER_SECOND = 5
    requests = submitted(users, 10)
    approve(users, requests)
    workers.start(2)
    wait_until_final(requests)

    assert statuses(requests) == [Status.SUCCEEDED] * 10
    times = sorted(r.time for r in adds_received(simulator))
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    turn = 1 / settings.VICIDIAL_CALLS_PER_SECOND
    # Each call starts at its reserved turn or after it (the worker's own work, a busy
    # machine), never before: the k-th call comes at least k turns after the first, less
    # however late the first one was (up to one turn allowed).
    assert all(at - times[0] >= (k - 1) * turn for k, at in enumerate(times)), gaps
    assert statistics.median(gaps) >= 0.75 * turn, gaps
