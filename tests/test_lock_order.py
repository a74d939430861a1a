"""The request row lock and the audit chain head, on PostgreSQL: no deadlock between them.

A writer may record an event about a request it has not locked (the end of a VICIdial call
does). It holds the chain head from record() to commit, and at commit PostgreSQL's deferred
foreign-key check takes a KEY SHARE lock on the request row. A step that meanwhile locked
that row, and now waits for the writer's rows, would wait for ever if its lock conflicted
with KEY SHARE (plain FOR UPDATE does): PostgreSQL then kills one of them with "deadlock
detected". lock_request takes FOR NO KEY UPDATE, which KEY SHARE does not conflict with.
"""

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction

from aliases import services
from aliases.audit import record, verify_chain
from aliases.models import AliasRequest, AuditEvent, VicidialCall
from aliases.roles import Role
from aliases.services import calls
from aliases.vicidial import CallReply
from aliases.vicidial.protocol import classify, parse_response

from .base import make_user, submit

Status = AliasRequest.Status
Type = AuditEvent.Type


def _monitor() -> psycopg.Connection:
    settings_dict = connection.settings_dict
    return psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        password=settings_dict["PASSWORD"],
        autocommit=True,
    )


def _waits_for_a_lock(pid: int, timeout: float = 10.0) -> bool:
    """Whether backend `pid` is (or within `timeout` becomes) blocked on a row or table lock."""
    give_up = time.monotonic() + timeout
    with _monitor() as monitor:
        while time.monotonic() < give_up:
            row = monitor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            if row and row[0] == "Lock":
                return True
            time.sleep(0.005)
    return False


def _success_reply(alias_request: AliasRequest) -> CallReply:
    body = (
        f"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|{alias_request.alias_id}|"
        f"{alias_request.alias_name}|{','.join(alias_request.logins_in_order())}\n"
    )
    parsed = parse_response(body)
    return CallReply(
        function="add_phone_alias",
        method="POST",
        url="https://vicidial.invalid/vicidial/non_agent_api.php",
        sent_params=(("function", "add_phone_alias"),),
        http_status=200,
        body=body,
        parsed=parsed,
        result=classify(parsed=parsed, transport_error=None),
        transport_error="",
        duration_ms=3,
        source="portal1",
        body_bytes=len(body),
    )


def _end_of_the_call(alias_request, call, actor):
    # The reconciler, holding the request row, then waits for this call's row.
    return lambda: calls._record_call_end(
        call, _success_reply(alias_request), actor=actor, context=None
    )


def _event_about_the_request(alias_request, call, actor):
    # The reconciler, holding the request row, then waits for the chain head.
    return lambda: record(
        event_type=Type.PERMISSION_DENIED, actor=actor, request=alias_request, reason="probe"
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "writer", [_end_of_the_call, _event_about_the_request], ids=["call end", "other event"]
)
def test_reconcile_and_a_writer_that_did_not_lock_the_request_both_finish(writer):
    admin = make_user("admin", [Role.ADMIN])
    alias_request = submit(make_user("asker", [Role.SUPERVISOR]))
    AliasRequest.objects.filter(pk=alias_request.pk).update(status=Status.CALLING)
    call = VicidialCall.objects.create(request=alias_request, function="add_phone_alias")
    write = writer(alias_request, call, admin)

    holds_the_head = threading.Event()
    reconciler_started = threading.Event()
    pids: dict[str, int] = {}
    reconciler_waited = threading.Event()
    outcomes: dict[str, object] = {}

    def run(name: str, action) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[name] = cursor.fetchone()[0]
            outcomes[name] = action()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[name] = error
        finally:
            holds_the_head.set()  # a writer that failed must not leave the reconciler waiting
            connections.close_all()

    def writer_thread() -> None:
        # The transaction stays open, chain head held and its foreign-key checks pending,
        # until the reconciler holds the request row and waits for one of the writer's rows.
        with transaction.atomic():
            write()
            holds_the_head.set()
            if reconciler_started.wait(timeout=10) and _waits_for_a_lock(pids["reconcile"]):
                reconciler_waited.set()

    def reconciler_thread() -> list[AliasRequest]:
        reconciler_started.set()
        holds_the_head.wait(timeout=10)
        return services.alias_requests_reconcile_inflight(older_than=timedelta(0))

    threads = [
        threading.Thread(target=run, args=("writer", writer_thread)),
        threading.Thread(target=run, args=("reconcile", reconciler_thread)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    errors = {name: o for name, o in outcomes.items() if isinstance(o, Exception)}
    assert not errors, errors
    assert reconciler_waited.is_set(), "the reconciler never waited for the writer's locks"
    assert [r.pk for r in outcomes["reconcile"]] == [alias_request.pk]
    alias_request.refresh_from_db()
    assert alias_request.status == Status.NEEDS_VERIFICATION
    written = AuditEvent.objects.filter(request=alias_request)
    assert written.filter(event_type=Type.REQUEST_NEEDS_VERIFICATION).count() == 1
    assert written.filter(event_type__in=[Type.VICIDIAL_CALL, Type.PERMISSION_DENIED]).count() == 1
    assert verify_chain().ok
