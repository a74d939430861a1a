"""What one approval costs the database: statements, commits and locks of the audit chain head,
from the approve POST to the recorded outcome. Ceilings, so an N+1 or a stray transaction
cannot come back unseen (docs/PERFORMANCE.md has the figures; bench/approval_overhead.py
the time).

Counted as Django sees them (CaptureQueriesContext): every statement of the request, the
session and permission reads of any logged-in page included, and BEGIN / COMMIT. A commit is
a COMMIT, or a write run outside any transaction (it commits by itself). The counts are
exact: one statement more is a regression to look at, one fewer a budget to lower.
PostgreSQL writes a transaction's events, their index rows and the chain head's first step
in one statement (aliases/audit/chain.py), SQLite in three: hence two columns.
"""

import re
import uuid
from dataclasses import dataclass, field

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aliases import audit
from aliases.models import AliasRequest, AuditChainHead, AuditEvent, VicidialCall
from aliases.services import pace, queue, slots
from aliases.simulator import Fault

from .base import submit

Status = AliasRequest.Status
Type = AuditEvent.Type

# Statements of each path: (PostgreSQL, SQLite).
STATEMENTS = {
    # The session, the user and their permissions; the request and its logins, the phone
    # catalogue and the circuit (the checks before the transaction); BEGIN, the row lock,
    # the request's row, the call's task row, the head's lock, the events, COMMIT; the
    # requester's email task after the commit.
    "approve": (15, 17),
    "reject": (13, 15),
    "submit": (17, 19),
    # Before the call: BEGIN, the row lock (with the batch, the admin and their roles, the
    # calls made before), the logins, the pace (one UPDATE), a slot (one UPDATE), the
    # circuit, the request's row, the head's lock, the event, COMMIT. Right before sending:
    # the circuit and the request's state again, the call's row. After: BEGIN, the row
    # lock, the alias in the inventory (6), the answer, the slot, the request's row, the
    # head's lock, the events and the head's second step, COMMIT; the email task.
    "worker, succeeded": (29, 33),
    # No inventory to change.
    "worker, not succeeded": (23, 27),
}


def statements(path: str) -> int:
    return STATEMENTS[path][0 if connection.vendor == "postgresql" else 1]


HEAD_LOCK = re.compile(r'FROM "aliases_auditchainhead".*FOR UPDATE', re.S)
HEAD_READ = re.compile(r'^SELECT .* FROM "aliases_auditchainhead"', re.S)
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.I)


@dataclass
class Cost:
    statements: list[str] = field(default_factory=list)
    autocommitted: list[str] = field(default_factory=list)

    @property
    def queries(self) -> int:
        return len(self.statements)

    @property
    def commits(self) -> int:
        return self.statements.count("COMMIT") + len(self.autocommitted)

    def transactions(self) -> list[list[str]]:
        """The statements of each BEGIN ... COMMIT."""
        found, current = [], None
        for sql in self.statements:
            if sql.startswith("BEGIN"):  # SQLite's is BEGIN IMMEDIATE
                current = []
            elif sql == "COMMIT" and current is not None:
                found.append(current)
                current = None
            elif current is not None:
                current.append(sql)
        return found

    def head_locks_per_writing_transaction(self) -> list[int]:
        """On SQLite, which has no row locks, the head's read in each instead."""
        head = HEAD_LOCK if connection.vendor == "postgresql" else HEAD_READ
        return [
            sum(1 for sql in statements if head.search(sql))
            for statements in self.transactions()
            if any('INSERT INTO "aliases_auditevent"' in sql for sql in statements)
        ]

    def events_outside_transactions(self) -> list[str]:
        return [sql for sql in self.autocommitted if '"aliases_auditevent"' in sql]


class measured:
    """The statements run inside the block, and the writes that committed on their own."""

    def __enter__(self) -> Cost:
        self.cost = Cost()
        self.capture = CaptureQueriesContext(connection)
        self.capture.__enter__()
        self.wrapper = connection.execute_wrapper(self._watch)
        self.wrapper.__enter__()
        return self.cost

    def _watch(self, execute, sql, params, many, context):
        if WRITE.match(sql) and not connection.in_atomic_block:
            self.cost.autocommitted.append(sql)
        return execute(sql, params, many, context)

    def __exit__(self, *exc) -> None:
        self.wrapper.__exit__(*exc)
        self.capture.__exit__(*exc)
        self.cost.statements = [query["sql"] for query in self.capture.captured_queries]


@pytest.fixture
def db_queue(settings):
    """Approvals enqueue into the database queue, as in production: the worker's side runs
    when the test calls it (django-tasks resets its backends when TASKS changes)."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


@pytest.fixture
def portal(transactional_db, users, simulator, db_queue, settings):
    # As in a running portal: the chain head row exists (a transactional test before this
    # one may have flushed it, and rebuilding it costs statements no approval pays), and,
    # as after the first call of a process, the server's slot and pace rows exist.
    AuditChainHead.objects.get_or_create(pk=1, defaults={"sequence": 0, "hash": ""})
    settings.VICIDIAL_CALLS_PER_SECOND = 50.0  # the pace row is read and moved on each call
    slots.call_slot_release(slots.call_slot_try_acquire())
    pace.pace_reserve("default")
    return users


def approve_post(client_for, alias_request: AliasRequest) -> Cost:
    admin = client_for("admin")
    url = reverse("aliases:request_approve", args=[alias_request.pk])
    with measured() as cost:
        response = admin.post(url, {"note": ""})
    assert response.status_code == 302
    return cost


def queued(users, client_for, **submitted) -> AliasRequest:
    alias_request = submit(users["supervisor"], **submitted)
    approve_post(client_for, alias_request)
    alias_request.refresh_from_db()
    assert alias_request.status == Status.QUEUED
    return alias_request


def worker_call(alias_request: AliasRequest) -> tuple[Cost, str]:
    with measured() as cost:
        said = queue.alias_request_call(alias_request.pk)
    alias_request.refresh_from_db()
    return cost, said


# The approve POST.


def test_the_approve_post_is_one_transaction_with_its_event_and_its_task(portal, client_for):
    alias_request = submit(portal["supervisor"])
    cost = approve_post(client_for, alias_request)

    assert cost.queries == statements("approve"), "\n".join(cost.statements)
    # The decision, its event and the call's task row commit together; the requester's
    # "approved" email is enqueued after the commit (services/notify.py: an email never
    # undoes a decision), which is the one write on its own.
    assert len(cost.transactions()) == 1
    assert cost.commits <= 2
    assert [sql for sql in cost.autocommitted if "dbtaskresult" not in sql] == []
    (decision,) = cost.transactions()
    assert any('INSERT INTO "django_tasks_database_dbtaskresult"' in sql for sql in decision)
    assert cost.head_locks_per_writing_transaction() == [1]
    assert not any("SAVEPOINT" in sql for sql in cost.statements)


def test_the_call_task_commits_with_the_decision_on_the_database_queue(portal, client_for):
    from django_tasks_db.models import DBTaskResult

    alias_request = submit(portal["supervisor"])
    cost = approve_post(client_for, alias_request)
    (decision,) = cost.transactions()
    # Inside the transaction: no worker can see the task before the decision it carries out.
    task_rows = [sql for sql in decision if "dbtaskresult" in sql]
    assert len(task_rows) == 1 and "call_vicidial" in task_rows[0]
    assert DBTaskResult.objects.filter(task_path__endswith="call_vicidial").count() == 1


def test_with_a_backend_outside_the_database_the_task_follows_the_commit(
    users, simulator, monkeypatch
):
    """The tests' backend runs a task as it is enqueued: it must run after the decision
    committed, or the worker would call VICIdial inside the approval's transaction."""
    seen = []
    real = queue.alias_request_call

    def watched(request_id, context=None):
        seen.append(AliasRequest.objects.get(pk=request_id).status)
        return real(request_id, context)

    monkeypatch.setattr(queue, "alias_request_call", watched)
    assert not queue.call_queue_shares_transaction()
    alias_request = submit(users["supervisor"])
    from aliases.services import alias_request_approve

    approved = alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert seen == [Status.QUEUED]
    assert approved.status == Status.SUCCEEDED  # read again: the task already ran


def test_the_reject_post_stays_within_its_budget(portal, client_for):
    alias_request = submit(portal["supervisor"])
    url = reverse("aliases:request_reject", args=[alias_request.pk])
    admin = client_for("admin")
    with measured() as cost:
        admin.post(url, {"note": "Not this one."})
    alias_request.refresh_from_db()
    assert alias_request.status == Status.REJECTED
    assert cost.queries == statements("reject"), "\n".join(cost.statements)
    assert len(cost.transactions()) == 1
    assert cost.head_locks_per_writing_transaction() == [1]
    assert not any("SAVEPOINT" in sql for sql in cost.statements)


def test_the_submit_post_stays_within_its_budget(portal, client_for):
    supervisor = client_for("supervisor")
    form = {
        "alias_id": "budget_desk",
        "alias_name": "Budget desk",
        "phone_logins": "1001,1002",
        "justification": "Counting statements.",
        "submission_token": str(uuid.uuid4()),
    }
    with measured() as cost:
        response = supervisor.post(reverse("aliases:request_new"), form)
    assert response.status_code == 302
    assert AliasRequest.objects.filter(alias_id="budget_desk").exists()
    assert cost.queries == statements("submit"), "\n".join(cost.statements)
    assert len(cost.transactions()) == 1
    assert cost.head_locks_per_writing_transaction() == [1]
    assert not any("SAVEPOINT" in sql for sql in cost.statements)


# The worker's side: one transaction before the call, one after.


def test_a_call_that_succeeds(portal, client_for, simulator):
    alias_request = queued(portal, client_for)
    cost, said = worker_call(alias_request)
    assert said == "called VICIdial: succeeded"
    assert alias_request.status == Status.SUCCEEDED
    assert_worker_budget(cost, events_after=2, path="worker, succeeded")
    # The admin's roles and the calls made before came with the request's row lock.
    assert not any(sql.startswith('SELECT "auth_group"') for sql in cost.statements)
    assert not any(sql.startswith("SELECT COUNT(*)") for sql in cost.statements)
    started = AuditEvent.objects.get(event_type=Type.REQUEST_CALL_STARTED)
    assert (started.actor_username, started.actor_role) == ("admin", "Admin")
    assert VicidialCall.objects.get().attempt == 1


def test_a_retry_counts_the_calls_before_it_with_the_row_lock(portal, client_for, simulator):
    from aliases.services import alias_request_retry

    simulator.state.inject(Fault(reset=True))
    alias_request = queued(portal, client_for)
    worker_call(alias_request)
    assert alias_request.status == Status.NEEDS_VERIFICATION
    alias_request_retry(request_id=alias_request.pk, actor=portal["admin2"])
    cost, said = worker_call(alias_request)
    # The first call did create the alias: the retry's refusal says so, which needs an admin.
    assert said == "called VICIdial: needs_verification"
    assert list(VicidialCall.objects.order_by("pk").values_list("attempt", flat=True)) == [1, 2]
    assert not any(sql.startswith("SELECT COUNT(*)") for sql in cost.statements)


def test_a_call_vicidial_refuses(portal, client_for, simulator):
    alias_request = queued(portal, client_for, logins="9999")  # no such phone in VICIdial
    cost, said = worker_call(alias_request)
    assert alias_request.status == Status.FAILED
    assert VicidialCall.objects.get().result == VicidialCall.Result.REJECTED
    assert_worker_budget(cost, events_after=2, path="worker, not succeeded")


def test_a_call_whose_outcome_is_unknown(portal, client_for, simulator):
    simulator.state.inject(Fault(reset=True))
    alias_request = queued(portal, client_for)
    cost, said = worker_call(alias_request)
    assert alias_request.status == Status.NEEDS_VERIFICATION
    assert_worker_budget(cost, events_after=2, path="worker, not succeeded")


def assert_worker_budget(cost: Cost, *, events_after: int, path: str) -> None:
    assert cost.queries == statements(path), "\n".join(cost.statements)
    before, after = cost.transactions()
    assert cost.head_locks_per_writing_transaction() == [1, 1]
    # The call's row commits on its own just before the request leaves (a crash then shows
    # a call that may have been made), and the requester's email is enqueued after the
    # outcome commits: every other write is in one of the two transactions.
    alone = [sql.split("(")[0].strip() for sql in cost.autocommitted]
    assert alone == [
        'INSERT INTO "aliases_vicidialcall"',
        'INSERT INTO "django_tasks_database_dbtaskresult"',
    ]
    assert cost.commits == 4
    assert sum('INSERT INTO "aliases_auditevent"' in sql for sql in after) == 1
    # One step of the head per event (its trigger allows no more), the first one in the
    # events' own statement on PostgreSQL.
    assert sum('UPDATE "aliases_auditchainhead"' in sql for sql in after) == events_after
    assert any('"aliases_vicidialcallslot"' in sql and "UPDATE" in sql for sql in before)
    assert any('"aliases_vicidialcallslot"' in sql and "UPDATE" in sql for sql in after)
    assert not any("SAVEPOINT" in sql for sql in cost.statements)
    assert cost.events_outside_transactions() == []
    assert audit.verify_chain().problem == ""


# The pace: one UPDATE ... RETURNING reserves the next start.


def test_the_pace_reserves_evenly_spaced_starts_in_one_statement(transactional_db, settings):
    from aliases.models import VicidialCallPace

    settings.VICIDIAL_CALLS_PER_SECOND = 4.0
    assert pace.pace_reserve("default") == 0.0  # the server's first call makes its row
    frozen = timezone.now()
    VicidialCallPace.objects.update(next_call_at=frozen)
    with time_machine.travel(frozen, tick=False), measured() as cost:  # the waits are exact
        waits = [pace.pace_reserve("default") for _ in range(9)]
    # Each: BEGIN, the UPDATE ... RETURNING, COMMIT (outside any transaction, as here).
    assert cost.queries == 3 * 9, "\n".join(cost.statements)
    assert waits == [0.25 * number for number in range(9)]
    # Further off than LONGEST_WAIT_SECONDS: nothing reserved, the row stays where it was.
    booked = VicidialCallPace.objects.get().next_call_at
    assert pace.pace_reserve("default") is None
    assert VicidialCallPace.objects.get().next_call_at == booked


# The batch itself.


@pytest.mark.postgres_only
def test_the_heads_first_step_in_the_events_statement_is_checked_by_its_trigger(
    transactional_db,
):
    """PostgreSQL moves the head in the statement that writes the events: the head's trigger
    must still see them there, and still refuse a step that skips one."""
    from django.db import DatabaseError

    from aliases.audit import chain

    audit.record(event_type=Type.AUDIT_VIEWED, reason="first")
    with pytest.raises(DatabaseError, match="one written event forward"), transaction.atomic():
        head = chain._lock_chain_head()
        event = chain.audit_event(event_type=Type.AUDIT_VIEWED, reason="skips one")
        event.sequence, event.prev_hash = head.sequence + 2, head.hash
        event.occurred_at = timezone.now()
        event.hash = chain.chain_hash(chain.canonical_content(event), head.hash)
        chain._insert([event])
    with measured() as cost, transaction.atomic(), audit.batched():
        for number in range(2):
            audit.record(event_type=Type.AUDIT_VIEWED, reason=f"{number}", extensions=["cc1"])
    # The head's lock, the events with their index rows and the first step, the second step.
    assert cost.queries == 5, "\n".join(cost.statements)
    head = AuditChainHead.objects.get()
    newest = AuditEvent.objects.order_by("-sequence").first()
    assert (head.sequence, head.hash) == (newest.sequence, newest.hash) == (3, newest.hash)
    assert sorted(
        AuditEvent.objects.filter(extension_rows__login="cc1").values_list("reason", flat=True)
    ) == ["0", "1"]
    assert audit.verify_chain().problem == ""


def test_a_batch_takes_the_head_once_and_hashes_as_one_by_one(transactional_db):
    audit.record(event_type=Type.AUDIT_VIEWED, reason="first")  # the head row exists
    with measured() as cost, transaction.atomic(), audit.batched():
        for number in range(3):
            audit.record(event_type=Type.AUDIT_VIEWED, reason=f"{number}", extensions=["cc100"])
        assert AuditEvent.objects.count() == 1  # the rest are written when the block ends
    assert cost.head_locks_per_writing_transaction() == [1]
    assert sum('INSERT INTO "aliases_auditevent"' in sql for sql in cost.statements) == 1
    assert list(AuditEvent.objects.order_by("sequence").values_list("reason", flat=True)) == [
        "first",
        "0",
        "1",
        "2",
    ]
    assert audit.verify_chain().problem == ""


def test_a_record_in_a_savepoint_inside_a_batch_is_refused(transactional_db):
    # Written at once it would precede the events queued before it and take the head
    # mid-transaction; queued, it would survive its savepoint's rollback.
    with pytest.raises(RuntimeError, match="savepoint"), transaction.atomic(), audit.batched():
        audit.record(event_type=Type.AUDIT_VIEWED, reason="queued first")
        with transaction.atomic():
            audit.record(event_type=Type.AUDIT_VIEWED, reason="inside the savepoint")
    assert not AuditEvent.objects.exists()


def test_a_savepoint_without_records_inside_a_batch_is_fine(transactional_db):
    with transaction.atomic(), audit.batched():
        audit.record(event_type=Type.AUDIT_VIEWED, reason="kept")
        with transaction.atomic():
            Group.objects.create(name="inside the savepoint")
    assert list(AuditEvent.objects.values_list("reason", flat=True)) == ["kept"]
    assert audit.verify_chain().problem == ""


def test_an_error_caught_inside_the_transaction_undoes_the_batch_block(transactional_db):
    # The queued events are dropped with the error: the block's changes must not commit
    # without them, even when the caller swallows the error within the same atomic.
    with transaction.atomic():
        try:
            with audit.batched():
                Group.objects.create(name="changed in the block")
                audit.record(event_type=Type.AUDIT_VIEWED, reason="queued")
                raise RuntimeError
        except RuntimeError:
            pass
    assert not Group.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_batch_whose_block_fails_writes_nothing(transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic(), audit.batched():
        audit.record(event_type=Type.AUDIT_VIEWED)
        raise RuntimeError
    assert not AuditEvent.objects.exists()


def test_the_roles_of_a_user_are_read_once_per_user_object(users, django_assert_num_queries):
    from aliases.roles import role_label

    admin = users["admin"]
    with django_assert_num_queries(1):
        assert role_label(admin) == role_label(admin) == "Admin"
