"""verify_audit's rows read from libpq directly: the rows psycopg's Copy gives, a connection
left ready for the next query when the walk stops early, and COPY's errors raised.

Also the encoder's caches: one per JSON column, so the changes (which rarely repeat)
cannot keep emptying the extensions' cache (which nearly always hits).
"""

import pytest
from django.db import connection, transaction
from psycopg import errors

from aliases import audit
from aliases.audit import ranges
from aliases.audit.rows import CACHE_SIZE, RowEncoder, copy_field

from .test_audit_rows import SPELLINGS, row_of
from .test_audit_vectors import FIRST

Type = audit.EventType


def through_psycopg(first: int, last: int) -> list[list[bytes | None]]:
    with connection.cursor() as cursor, cursor.cursor.copy(ranges.COPY_SQL, (first, last)) as copy:
        return [[copy_field(f) for f in bytes(data)[:-1].split(b"\t")] for data in copy]


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_libpq_rows_are_the_rows_psycopgs_copy_gives():
    odd = ["tab\there", 'quote " and \\ backslash', "new\nline", "ctl\x01", "é✓"]
    for text in odd:
        audit.record(event_type=Type.AUDIT_VIEWED, extensions=["cc100", text], reason=text)
    audit.record(event_type=Type.AUDIT_VIEWED)
    with connection.cursor() as cursor:
        direct = list(ranges.copy_rows(cursor.cursor, 1, 6))
    assert direct == through_psycopg(1, 6)
    assert len(direct) == 6
    assert direct[1][ranges.ROW_KEYS.index("reason")] == odd[1].encode()


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_walk_stopped_early_leaves_the_connection_ready():
    for number in range(5):
        audit.record(event_type=Type.AUDIT_VIEWED, reason=str(number))
    with connection.cursor() as cursor:
        rows = ranges.copy_rows(cursor.cursor, 1, 5)
        assert next(rows)[0] == b"1"
        rows.close()  # what walk_range's return at a problem does
        cursor.execute("SELECT count(*) FROM aliases_auditevent")
        assert cursor.fetchone() == (5,)


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_an_error_before_or_during_the_copy_is_raised(monkeypatch):
    with connection.cursor() as cursor:
        monkeypatch.setattr(ranges, "COPY_SQL", "COPY (SELECT %s, %s FROM no_such_table) TO STDOUT")
        with pytest.raises(errors.UndefinedTable), transaction.atomic():
            list(ranges.copy_rows(cursor.cursor, 1, 2))
        # The second row fails after the first was sent: libpq's -2, then the error result.
        monkeypatch.setattr(
            ranges,
            "COPY_SQL",
            "COPY (SELECT 1 / (x - 2) FROM generate_series(%s, %s) x) TO STDOUT",
        )
        with pytest.raises(errors.DivisionByZero), transaction.atomic():
            assert list(ranges.copy_rows(cursor.cursor, 1, 3)) == "never"
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_changes_that_never_repeat_do_not_empty_the_extensions_cache():
    encoder = RowEncoder()
    content = audit.canonical_content(FIRST)
    content["extensions"] = ["cc100"]
    for number in range(CACHE_SIZE + 10):
        content["changes"] = {"n": number}
        row = row_of(content, "", SPELLINGS[0])
        assert encoder.canonical(row) == audit.canonical_bytes(content, "")
    assert encoder._extensions == {b'["cc100"]': b'["cc100"]'}
    assert 0 < len(encoder._changes) <= CACHE_SIZE
