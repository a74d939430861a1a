"""Every VICIdial call ends honestly: within one total deadline, with a bounded body, with at
most VICIDIAL_MAX_IN_FLIGHT in flight, never inside a transaction, and without deadlocks."""

import re
import secrets
import threading
import time
import tracemalloc
from datetime import timedelta

import psycopg
import pytest
import time_machine
import urllib3.util.connection
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from aliases import services
from aliases.errors import VicidialCallsStopped
from aliases.models import (
    AliasRequest,
    AuditEvent,
    VicidialCall,
    VicidialCallSlot,
    VicidialCircuit,
)
from aliases.roles import Role
from aliases.services import calls, queue, slots
from aliases.simulator import Fault, php_warnings_stream
from aliases.vicidial import VicidialClient, VicidialConfig, deadline

from .base import make_user, race, submit

Status = AliasRequest.Status
Result = VicidialCall.Result
Type = AuditEvent.Type


def add_phone_alias_calls(simulator) -> int:
    received = simulator.state.requests_received
    return sum(1 for request in received if request.params.get("function") == "add_phone_alias")


@pytest.fixture
def short_deadline(settings):
    settings.VICIDIAL_CONNECT_TIMEOUT = 0.2
    settings.VICIDIAL_TOTAL_DEADLINE = 0.5
    return settings.VICIDIAL_TOTAL_DEADLINE


# One total deadline per call.


def test_a_one_byte_at_a_time_vicidial_ends_at_the_deadline_in_needs_verification(
    users, client_for, simulator, short_deadline
):
    # 20 ms a byte: every read gets something, so the 2 s read timeout never trips, and the
    # whole answer (about 250 bytes) would take 5 s.
    simulator.state.inject(Fault(drip=0.02))
    alias_request = submit(users["supervisor"])
    url = reverse("aliases:request_approve", args=[alias_request.pk])

    started = time.monotonic()
    response = client_for("admin").post(url, {"note": ""})
    elapsed = time.monotonic() - started

    assert response.status_code == 302  # no 500: the page says what happened
    assert elapsed < short_deadline + 1.5
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    expected = f"no complete answer within {short_deadline:g} s; VICIdial may have acted"
    assert alias_request.outcome_reason == expected
    call = VicidialCall.objects.get()
    assert (call.result, call.transport_error) == (Result.UNKNOWN, expected)
    assert call.duration_ms < (short_deadline + 1.0) * 1000
    assert add_phone_alias_calls(simulator) == 1  # received, and perhaps done: never resent


def test_a_connection_made_only_after_the_deadline_sends_nothing(
    users, simulator, short_deadline, monkeypatch
):
    """A slow name lookup or connect that ends after the deadline: the request never leaves."""
    expired = threading.Event()
    real_expire = deadline.Watchdog._expire
    real_connect = urllib3.util.connection.create_connection

    def expire(self):
        real_expire(self)
        expired.set()

    def slow_connect(*args, **kwargs):
        assert expired.wait(timeout=5)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(deadline.Watchdog, "_expire", expire)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", slow_connect)
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])

    alias_request.refresh_from_db()
    assert alias_request.status == Status.FAILED
    assert "not sent: no connection within the 0.5 s deadline" in alias_request.outcome_reason
    assert simulator.state.requests_received == []


def test_reconcile_inflight_waits_as_long_as_a_live_call_can_take(settings):
    settings.VICIDIAL_TOTAL_DEADLINE = 7.0
    assert calls.longest_live_call() == timedelta(seconds=21)
    assert slots.slot_lease() == timedelta(seconds=14)


# The size cap.


def test_a_100_mb_answer_is_capped_and_classified_from_its_result_line(users, simulator):
    half = 50 * 1024 * 1024
    simulator.state.inject(Fault(padding=half, padding_after=half))
    alias_request = submit(users["supervisor"])

    tracemalloc.start()
    try:
        services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    alias_request.refresh_from_db()
    assert alias_request.status == Status.SUCCEEDED
    call = VicidialCall.objects.get()
    real_line = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|sales_desk|"
    assert call.keyword == "SUCCESS" and call.response_data[1] == "sales_desk"
    assert call.response_truncated is True
    assert call.response_bytes > 2 * half
    cap = 256 * 1024
    assert len(call.response_body.encode()) < cap + 2048
    assert real_line in call.response_body
    assert call.response_body.startswith("<br />\n<b>Warning</b>")
    assert re.search(
        r"\[\.\.\. [\d,]+ bytes cut before the result line \.\.\.\]", call.response_body
    )
    event = AuditEvent.objects.get(event_type=Type.VICIDIAL_CALL)
    assert event.changes["response_body"] == call.response_body
    assert event.changes["response_bytes"] == call.response_bytes
    assert event.changes["response_truncated"] is True
    assert peak < 32 * 1024 * 1024  # whole, the body alone would be 100 MiB


def capped_client(simulator, cap: int = 8192, **overrides) -> VicidialClient:
    config = VicidialConfig.from_settings()
    return VicidialClient(
        VicidialConfig(
            **{**config.__dict__, "url": simulator.url, "max_body_bytes": cap, **overrides}
        )
    )


def add(client: VicidialClient, alias_id: str = "xyz100"):
    return client.add_phone_alias(
        alias_id=alias_id, alias_name="XYZ", phone_logins=["cc100"], reference="7"
    )


@pytest.mark.parametrize(
    ("before", "after", "where"),
    [(0, 100_000, "start"), (100_000, 100_000, "middle"), (100_000, 0, "end")],
)
def test_a_long_answer_keeps_its_start_its_end_and_its_result_line(simulator, before, after, where):
    simulator.state.inject(Fault(padding=before, padding_after=after))
    reply = add(capped_client(simulator))
    line = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|xyz100|XYZ|cc100"
    assert reply.parsed.result_line == line
    assert reply.result.value == Result.SUCCEEDED
    assert reply.body_truncated and reply.body_bytes == before + len(line) + 1 + after
    assert len(reply.body) < 8192 + 200
    assert reply.body.count(line) == 1
    markers = re.findall(r"^\[\.\.\. ([\d,]+) bytes cut[^\n]*\]$", reply.body, re.MULTILINE)
    assert len(markers) == (2 if where == "middle" else 1)
    kept = len(reply.body.encode()) - sum(
        len(m) for m in re.findall(r"\[\.\.\.[^\]]*\]\n", reply.body)
    )
    cut = sum(int(number.replace(",", "")) for number in markers)
    assert abs(kept + cut - reply.body_bytes) <= 4  # the line breaks around the markers
    start = b"".join(php_warnings_stream(before))[:100].decode()
    end = b"".join(php_warnings_stream(after))[-100:].decode()
    assert reply.body.startswith(start if before else line)
    assert reply.body.endswith(end if after else line + "\n")


def test_a_long_answer_without_a_result_line_is_unknown_and_says_how_long_it_was(simulator):
    simulator.state.inject(Fault(body="", padding=300_000))
    reply = add(capped_client(simulator))
    assert reply.result.value == Result.UNKNOWN
    assert reply.parsed.reason == "no VICIdial result line in 300,000 bytes"
    assert reply.body_truncated and reply.body_bytes == 300_000


def test_the_password_echo_is_masked_in_a_capped_answer_too(simulator):
    wrong = "Wrong-" + secrets.token_urlsafe(12)
    simulator.state.inject(Fault(padding=100_000, padding_after=100_000))
    reply = add(capped_client(simulator, password=wrong))
    assert reply.result.value == Result.AUTH_FAILED
    assert wrong not in reply.body and wrong not in repr(reply)
    assert "please try again: |6666|********|BAD|" in reply.body


# A bounded number of calls in flight.


@pytest.mark.postgres_only
def test_twenty_concurrent_approvals_with_a_wrong_password_send_exactly_one_bad_login(
    transactional_db, simulator, settings
):
    settings.VICIDIAL_API_PASS = "Wrong-" + secrets.token_urlsafe(12)
    admins = [make_user(f"admin{n}", [Role.ADMIN]) for n in range(4)]
    requester = make_user("asker", [Role.SUPERVISOR])
    burst = [submit(requester, alias_id=f"burst_{n}") for n in range(20)]
    # A VICIdial that takes a while keeps the first call in flight while the others arrive.
    simulator.state.inject(Fault(delay=0.2, times=None))

    outcomes = race(
        len(burst),
        lambda n: services.alias_request_approve(request_id=burst[n].pk, actor=admins[n % 4]),
    )

    assert add_phone_alias_calls(simulator) == 1
    assert simulator.state.users["6666"].failed_logins == 1
    assert all(isinstance(o, AliasRequest | VicidialCallsStopped) for o in outcomes), outcomes
    statuses = dict(AliasRequest.objects.values_list("pk", "status"))
    assert Status.CALLING not in statuses.values()
    failed = AliasRequest.objects.filter(status=Status.FAILED)
    assert failed.filter(calls__result=Result.AUTH_FAILED).count() == 1
    for unsent in failed.exclude(calls__result=Result.AUTH_FAILED):
        assert unsent.outcome_reason.startswith("Not sent"), unsent.outcome_reason
        assert not unsent.calls.exists()
    assert VicidialCircuit.objects.get().is_open
    assert not VicidialCallSlot.objects.exclude(holder="").exists()


def test_no_free_slot_within_the_wait_leaves_the_request_queued_with_nothing_sent(
    users, simulator, short_deadline
):
    held = slots.call_slot_try_acquire()  # another worker's call, still in flight
    assert held is not None
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.QUEUED
    assert alias_request.outcome_reason == ""
    assert simulator.state.requests_received == []
    assert not alias_request.calls.exists()
    assert VicidialCallSlot.objects.get().holder == held
    # The other call ends; the worker's next run of the task makes this one.
    slots.call_slot_release(held)
    assert queue.alias_request_call(alias_request.pk) == "called VICIdial: succeeded"
    assert add_phone_alias_calls(simulator) == 1


def test_calls_stopped_while_waiting_for_a_slot_send_nothing_and_wait(
    users, simulator, monkeypatch
):
    """Approved while calls were allowed; another worker's refused login opened the circuit
    before this one got its slot: the request waits for an admin to resume calls."""
    first = submit(users["supervisor"])
    real_acquire = queue.call_slot_acquire

    def acquire_after_the_circuit_opened(**kwargs):
        VicidialCircuit.objects.update_or_create(
            server="default",
            defaults={"is_open": True, "reason": "Login incorrect, please try again"},
        )
        return real_acquire(**kwargs)

    monkeypatch.setattr(queue, "call_slot_acquire", acquire_after_the_circuit_opened)
    services.alias_request_approve(request_id=first.pk, actor=users["admin"])
    first.refresh_from_db()
    assert first.status == Status.QUEUED
    assert simulator.state.requests_received == []
    assert not VicidialCallSlot.objects.exclude(holder="").exists()
    monkeypatch.setattr(queue, "call_slot_acquire", real_acquire)
    services.vicidial_circuit_reset(actor=users["admin2"])
    first.refresh_from_db()
    assert first.status == Status.SUCCEEDED
    assert add_phone_alias_calls(simulator) == 1


def test_a_request_reconciled_while_its_worker_stalled_is_not_sent(users, simulator, monkeypatch):
    alias_request = submit(users["supervisor"])
    real_carry_out = queue.carry_out_in_vicidial

    def stall_until_reconciled(**kwargs):
        AliasRequest.objects.filter(pk=alias_request.pk).update(
            updated_at=timezone.now() - timedelta(hours=1)
        )
        services.alias_requests_reconcile_inflight(older_than=timedelta(minutes=10))
        return real_carry_out(**kwargs)

    monkeypatch.setattr(queue, "carry_out_in_vicidial", stall_until_reconciled)
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.FAILED
    assert alias_request.outcome_reason.startswith("The portal stopped before it called VICIdial")
    assert simulator.state.requests_received == []
    assert not VicidialCallSlot.objects.exclude(holder="").exists()


def test_each_call_frees_its_slot_and_more_slots_allow_more_calls(db, settings):
    settings.VICIDIAL_MAX_IN_FLIGHT = 2
    first, second = slots.call_slot_try_acquire(), slots.call_slot_try_acquire()
    assert first and second and first != second
    assert slots.call_slot_try_acquire() is None
    slots.call_slot_release(first)
    third = slots.call_slot_try_acquire()
    assert third is not None
    settings.VICIDIAL_MAX_IN_FLIGHT = 1  # a lowered limit ignores the extra slot rows
    slots.call_slot_release(second)
    assert slots.call_slot_try_acquire() is None  # slot 1 is still held by `third`


def test_a_dead_holders_slot_frees_itself_when_its_lease_runs_out(db):
    with time_machine.travel("2026-12-01 10:00:00Z", tick=False) as clock:
        dead = slots.call_slot_try_acquire()
        assert slots.call_slot_try_acquire() is None
        clock.shift(slots.slot_lease() + timedelta(seconds=1))
        alive = slots.call_slot_try_acquire()
        assert alive is not None
        slots.call_slot_release(dead)  # the late release of the dead holder changes nothing
        assert VicidialCallSlot.objects.get().holder == alive


# No transaction and no row lock while VICIdial is called.


def _locks_of(pids: list[int], params: dict) -> list[tuple]:
    with psycopg.connect(**params, autocommit=True) as monitor:
        return monitor.execute(
            "SELECT a.pid, a.state, l.locktype, l.mode FROM pg_stat_activity a "
            "LEFT JOIN pg_locks l ON l.pid = a.pid WHERE a.pid = ANY(%s)",
            [pids],
        ).fetchall()


def _monitor_params() -> dict:
    settings_dict = connection.settings_dict
    return {
        "dbname": settings_dict["NAME"],
        "user": settings_dict["USER"],
        "host": settings_dict["HOST"],
        "port": settings_dict["PORT"] or 5432,
        "password": settings_dict["PASSWORD"],
    }


@pytest.fixture
def seen_at_send(monkeypatch, simulator):
    """What the portal's database connections held at the moment VICIdial was called: its
    transaction state at the client's send seam and, on PostgreSQL, the locks PostgreSQL
    reports for its backends when the simulator receives the request."""
    seen: list[dict] = []
    real_send = VicidialClient._send
    postgres = connection.vendor == "postgresql"
    params = _monitor_params() if postgres else {}

    def watched_send(self, fields, seconds):
        pids = [
            conn.connection.info.backend_pid
            for conn in connections.all()
            if conn.vendor == "postgresql" and conn.connection is not None
        ]
        atomic = {conn.alias: conn.in_atomic_block for conn in connections.all()}
        seen.append({"atomic": atomic, "pids": pids, "locks": None})
        return real_send(self, fields, seconds)

    def at_vicidial(_received):
        if postgres and seen:
            seen[-1]["locks"] = _locks_of(seen[-1]["pids"], params)

    monkeypatch.setattr(VicidialClient, "_send", watched_send)
    simulator.state.on_receive = at_vicidial
    return seen


def test_vicidial_is_called_with_no_transaction_open_and_no_row_lock_held(
    transactional_db, simulator, seen_at_send, client_for, users
):
    alias_request = submit(users["supervisor"])
    simulator.state.inject(Fault(reset=True))  # unknown: the retry calls again
    admin = client_for("admin")
    admin.post(reverse("aliases:request_approve", args=[alias_request.pk]), {"note": ""})
    admin.post(reverse("aliases:request_retry", args=[alias_request.pk]), {"note": ""})

    assert len(seen_at_send) == 2
    for moment in seen_at_send:
        assert not any(moment["atomic"].values()), moment
        if connection.vendor == "postgresql":
            assert moment["pids"] and moment["locks"], moment
            # Idle, outside any transaction, holding no lock of any kind.
            assert {(state, locktype) for _, state, locktype, _ in moment["locks"]} == {
                ("idle", None)
            }, moment


# Lock order: the circuit row before the audit chain head, everywhere.

_TAKES_LOCK = re.compile(r"^\s*UPDATE\b|\bFOR UPDATE\b", re.IGNORECASE)
_CONTENDED = ("aliases_auditchainhead", "aliases_vicidialcircuit")


def _wait_until(condition, timeout: float = 10.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition() and time.monotonic() < give_up:
        time.sleep(0.005)


@pytest.mark.postgres_only
def test_recording_a_refused_login_while_an_admin_resumes_calls_cannot_deadlock(
    transactional_db, simulator, settings
):
    admin, admin2 = make_user("admin", [Role.ADMIN]), make_user("admin2", [Role.ADMIN])
    alias_request = submit(make_user("asker", [Role.SUPERVISOR]))
    AliasRequest.objects.filter(pk=alias_request.pk).update(status=Status.CALLING)
    # An earlier refused call opened the circuit; this call was already in flight.
    VicidialCircuit.objects.update_or_create(
        pk=1, defaults={"is_open": True, "reason": "Login incorrect, please try again"}
    )
    wrong = VicidialConfig(**{**VicidialConfig.from_settings().__dict__, "password": "x" * 14})
    reply = add(VicidialClient(wrong), alias_id=alias_request.alias_id)
    assert reply.result.value == Result.AUTH_FAILED
    call = VicidialCall.objects.create(request=alias_request, function="add_phone_alias")

    params = _monitor_params()
    pids: dict[str, int] = {}
    holds_first_lock = {"refused": threading.Event(), "resume": threading.Event()}
    ready = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def blocked_on_a_lock(name: str) -> bool:
        with psycopg.connect(**params, autocommit=True) as monitor:
            row = monitor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pids[name]]
            ).fetchone()
        return bool(row) and row[0] == "Lock"

    def pause_after_first_lock(name: str, other: str):
        """Force the interleaving: once this transaction holds its first contended lock,
        wait until the other one holds its own, or is blocked waiting for ours."""

        def wrapper(execute, sql, sql_params, many, context):
            result = execute(sql, sql_params, many, context)
            contended = any(table in sql for table in _CONTENDED)
            if contended and _TAKES_LOCK.search(sql) and not holds_first_lock[name].is_set():
                holds_first_lock[name].set()
                _wait_until(lambda: holds_first_lock[other].is_set() or blocked_on_a_lock(other))
            return result

        return wrapper

    def run(name: str, other: str, action) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[name] = cursor.fetchone()[0]
            ready.wait(timeout=10)
            with connection.execute_wrapper(pause_after_first_lock(name, other)):
                outcomes[name] = action()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[name] = error
        finally:
            connections.close_all()

    threads = [
        threading.Thread(
            target=run,
            args=(
                "refused",
                "resume",
                lambda: calls._record_call_end(call, reply, actor=admin, context=None),
            ),
        ),
        threading.Thread(
            target=run,
            args=("resume", "refused", lambda: services.vicidial_circuit_reset(actor=admin2)),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    errors = {name: o for name, o in outcomes.items() if isinstance(o, Exception)}
    assert not errors, errors
    assert holds_first_lock["refused"].is_set() and holds_first_lock["resume"].is_set()
    call.refresh_from_db()
    assert call.result == Result.AUTH_FAILED
    assert AuditEvent.objects.filter(event_type=Type.CIRCUIT_RESET).count() == 1
