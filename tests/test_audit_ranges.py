"""verify_audit in ranges, and in parallel workers: the same first problem, in the same
words and after the same count, as one walk from the start.

Tiny ranges make every break land at a range's edge or inside a later range. The workers
read committed rows through an exported snapshot, so the PostgreSQL tests commit theirs.
"""

import pytest
from django.db import connection

from aliases import audit
from aliases.audit import parallel
from aliases.audit.ranges import Checkpoint, RangeSummary, join, split
from aliases.models import AuditEvent

from .tampering import cut_tail, rewrite, tamper, verify

Type = AuditEvent.Type
RANGE = 3


def record_events(count: int) -> list[AuditEvent]:
    for number in range(count):
        audit.record(event_type=Type.AUDIT_VIEWED, extensions=["cc100"], reason=f"{number}")
    return list(AuditEvent.objects.order_by("sequence"))


def report_fields(report: audit.ChainReport) -> tuple:
    return (report.count, report.head, report.problem, report.unkeyed)


def in_ranges(jobs: int) -> tuple:
    """The report from ranges of RANGE events, after checking it equals one walk's."""
    whole = audit.verify_chain(jobs=1, range_events=10**9)
    ranged = audit.verify_chain(jobs=jobs, range_events=RANGE)
    assert report_fields(ranged) == report_fields(whole)
    return report_fields(ranged)


# --- joining ranges (no database) -------------------------------------------------------


def test_ranges_cover_the_sequences_once_in_order():
    assert split(1, 7, 3) == [(1, 3), (4, 6), (7, 7)]
    assert split(1, 0, 3) == []
    assert split(0, 2, 5) == [(0, 2)]


def test_joining_links_each_range_to_the_last_event_of_the_one_before():
    first = RangeSummary(first=(1, ""), count=3, last=Checkpoint(3, "c"))
    linked = RangeSummary(first=(4, "c"), count=2, last=Checkpoint(5, "e"))
    joined = join([first, RangeSummary(), linked])
    assert (joined.count, joined.last, joined.problem) == (5, Checkpoint(5, "e"), "")
    unlinked = RangeSummary(first=(4, "x"), count=2, last=Checkpoint(5, "e"))
    assert join([first, unlinked]).problem == (
        "event #4 does not link to #3: inserted out of place, or the event before it was rewritten"
    )
    gap = RangeSummary(first=(6, "c"), count=1, last=Checkpoint(6, "f"))
    assert join([first, RangeSummary(), gap]).problem == (
        "event #4... is missing: removed from before #6"
    )


def test_a_range_starting_without_a_mac_after_a_keyed_range_is_named_there():
    keyed = RangeSummary(first=(1, ""), count=2, last=Checkpoint(2, "b"), first_keyed=1)
    unkeyed = RangeSummary(
        first=(3, "b"),
        count=2,
        last=Checkpoint(4, "d"),
        unkeyed=1,
        leading_unkeyed=(4, 1, Checkpoint(3, "c")),
        problem="a later problem",
        problem_sequence=4,
    )
    joined = join([keyed, unkeyed])
    assert (joined.count, joined.last) == (3, Checkpoint(3, "c"))
    assert joined.problem.startswith("event #4 has no MAC although #1 before it has one")
    # Without a keyed event before, unkeyed events are the accepted prefix.
    unkeyed_before = RangeSummary(first=(1, ""), count=2, last=Checkpoint(2, "b"), unkeyed=2)
    assert join([unkeyed_before, unkeyed]).problem == "a later problem"
    # A range that names its own first keyed event: the chain's first one is named instead.
    local = RangeSummary(
        first=(3, "b"),
        count=1,
        last=Checkpoint(3, "c"),
        first_keyed=3,
        problem="event #4 has no MAC although #3 before it has one: …",
        problem_sequence=4,
        unkeyed_problem=True,
    )
    assert join([keyed, local]).problem.startswith("event #4 has no MAC although #1 before")


# --- in the database, in-process (SQLite and PostgreSQL) --------------------------------


@pytest.mark.django_db
def test_tiny_ranges_verify_a_sound_trail_with_its_count_and_head():
    events = record_events(8)
    assert in_ranges(jobs=1) == (8, Checkpoint(8, events[-1].hash), "", 0)


@pytest.mark.django_db
def test_a_break_exactly_at_a_range_boundary_is_named_as_one_walk_names_it():
    events = record_events(8)
    tamper("UPDATE aliases_auditevent SET prev_hash = %s WHERE sequence = 4", [events[0].hash])
    assert in_ranges(jobs=1)[2] == (
        "event #4 does not link to #3: inserted out of place, or the event before it was rewritten"
    )


# --- in parallel workers (PostgreSQL) ---------------------------------------------------


@pytest.fixture
def workers_used(monkeypatch):
    """How many times the verifier ran its ranges in worker processes."""
    calls = []
    original = parallel.summaries

    def counted(*args, **kwargs):
        calls.append(kwargs["jobs"])
        yield from original(*args, **kwargs)

    monkeypatch.setattr(parallel, "summaries", counted)
    return calls


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_verify_a_sound_trail_as_one_walk_does(workers_used):
    events = record_events(10)
    assert in_ranges(jobs=2) == (10, Checkpoint(10, events[-1].hash), "", 0)
    assert workers_used == [2]
    assert verify("--jobs", "2", "--range-events", "3").startswith(
        f"OK: 10 events, head #10 {events[-1].hash}"
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_name_a_break_exactly_at_a_range_boundary(workers_used):
    events = record_events(10)
    tamper("UPDATE aliases_auditevent SET prev_hash = %s WHERE sequence = 7", [events[0].hash])
    count, head, problem, _ = in_ranges(jobs=2)
    assert (count, head) == (6, Checkpoint(6, events[5].hash))
    assert problem.startswith("event #7 does not link to #6")
    assert workers_used == [2]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_name_an_event_rewritten_in_the_second_of_several_ranges():
    record_events(10)
    rewrite(5, reason="nothing happened")
    count, _, problem, _ = in_ranges(jobs=2)
    assert count == 4
    assert problem.startswith("event #5: its MAC does not verify")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_name_an_event_edited_in_place_and_the_range_before_stays_good():
    record_events(10)
    tamper("UPDATE aliases_auditevent SET reason = 'edited' WHERE sequence = 9")
    assert in_ranges(jobs=2)[:1] == (8,)
    assert audit.verify_chain(jobs=2, range_events=RANGE).problem == (
        "event #9 was altered after it was written"
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_name_the_first_event_of_a_range_removed():
    record_events(10)
    tamper(
        "DELETE FROM aliases_auditeventextension WHERE event_id IN "
        "(SELECT id FROM aliases_auditevent WHERE sequence = 4)"
    )
    tamper("DELETE FROM aliases_auditevent WHERE sequence = 4")
    assert in_ranges(jobs=2)[2] == "event #4 is missing: removed from before #5"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_name_an_unkeyed_event_ranges_after_the_first_keyed_one():
    record_events(10)
    tamper("UPDATE aliases_auditevent SET key_id = '', mac = '' WHERE sequence = 8")
    count, _, problem, _ = in_ranges(jobs=2)
    assert count == 7
    assert problem.startswith("event #8 has no MAC although #1 before it has one")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_workers_name_index_rows_deleted_in_a_later_range_and_a_cut_tail():
    events = record_events(10)
    tamper("DELETE FROM aliases_auditeventextension WHERE event_id = %s", [events[5].pk])
    assert in_ranges(jobs=2)[2] == (
        "event #6: the per-extension index lacks ['cc100']: its rows were deleted"
    )
    tamper(
        "INSERT INTO aliases_auditeventextension (event_id, login) VALUES (%s, 'cc100')",
        [events[5].pk],
    )
    cut_tail(8)
    # The head moved back with the cut: only a digest would see it; the chain verifies.
    assert in_ranges(jobs=2) == (8, Checkpoint(8, events[7].hash), "", 0)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_odd_text_takes_the_exact_path_in_the_workers_and_verifies():
    odd = ["tab\there", 'quote " and \\ backslash', "new\nline", "nul\x00gone", "ctl\x01", "é✓"]
    for number, text in enumerate(odd):
        audit.record(
            event_type=Type.AUDIT_VIEWED,
            extensions=[f"x{number}", text],
            reason=text,
            changes={text: [text, None, 1.5, {"nested": text}]},
        )
    record_events(4)
    assert in_ranges(jobs=2)[2:] == ("", 0)
    tamper("UPDATE aliases_auditevent SET reason = 'quote \" and \\ backslas' WHERE sequence = 2")
    assert in_ranges(jobs=2)[2] == "event #2 was altered after it was written"


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_inside_a_callers_transaction_the_ranges_run_in_process(workers_used):
    # Worker processes could not see this transaction's uncommitted rows.
    record_events(7)
    assert connection.in_atomic_block
    assert audit.verify_chain(jobs=2, range_events=RANGE).count == 7
    assert workers_used == []
