"""The fast canonical form is the canonical form: RowEncoder against chain.canonical_bytes.

verify_audit hashes rows the database hands over in bulk with a template; these prove it
byte-identical to the definition for any content, and pin the pieces PostgreSQL supplies
(COPY's text format, occurred_at in hashed_time's form, the index as json_agg writes it).
"""

import json
import secrets
from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aliases import audit
from aliases.audit.chain import _storable
from aliases.audit.ranges import COPY_SQL
from aliases.audit.rows import (
    ROW_KEYS,
    TEXT_KEYS,
    RowEncoder,
    canonical_json,
    content_of,
    copy_field,
    expected_index,
)

from .test_audit_vectors import FIRST, FIRST_BYTES, FIRST_HASH, SECOND, SECOND_BYTES

# Text as an attacker or a browser may send it: controls, NUL, quotes, backslashes, tabs,
# non-ASCII and astral characters (surrogates cannot be stored, so they are left out).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
IDS = st.none() | st.integers(min_value=1, max_value=2**63 - 1)
CONTENT = st.fixed_dictionaries(
    {
        "sequence": st.integers(min_value=0, max_value=2**63 - 1),
        "occurred_at": st.datetimes(timezones=st.just(UTC)).map(audit.hashed_time),
        "event_type": TEXT,
        "actor_id": IDS,
        "actor_username": TEXT,
        "actor_role": TEXT,
        "source_ip": TEXT,
        "user_agent": TEXT,
        "correlation_id": TEXT,
        "request_id": IDS,
        "call_id": IDS,
        "extensions": st.lists(TEXT, max_size=4),
        "outcome": TEXT,
        "reason": TEXT,
        "changes": st.dictionaries(TEXT, JSON_VALUE, max_size=5),
    }
)
HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
# The spellings a database may give a JSON column in: its own spacing and key order.
SPELLINGS = [
    lambda value: json.dumps(value),
    lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True),
    lambda value: json.dumps(value, separators=(",", ":")),
    lambda value: json.dumps(value, indent=1),
]


def row_of(content: dict, prev_hash: str, spell) -> list[bytes]:
    """`content` as the verifier's rows carry it (rows.py)."""
    row = []
    for key in ROW_KEYS:
        if key in ("extensions", "changes"):
            row.append(spell(content[key]).encode())
        elif key in ("sequence", "actor_id", "request_id", "call_id"):
            row.append(b"null" if content[key] is None else str(content[key]).encode())
        elif key == "prev_hash":
            row.append(prev_hash.encode())
        elif key in content:
            row.append(content[key].encode())
        else:
            row.append(b"")
    return row


@settings(max_examples=200, deadline=None)
@given(content=CONTENT, prev_hash=st.just("") | HEX, spell=st.sampled_from(SPELLINGS))
def test_the_fast_encoder_gives_the_canonical_bytes_for_any_content(content, prev_hash, spell):
    row = row_of(content, prev_hash, spell)
    assert content_of(row) == content
    assert RowEncoder().canonical(row) == audit.canonical_bytes(content, prev_hash)


@settings(max_examples=100, deadline=None)
@given(content=CONTENT, prev_hash=HEX)
def test_it_does_so_for_content_as_the_writer_stores_it_too(content, prev_hash):
    # NUL turned into U+FFFD and JSON round-tripped: what chain.record hashes.
    stored = {key: _storable(value) for key, value in content.items()}
    row = row_of(stored, prev_hash, SPELLINGS[0])
    assert RowEncoder().canonical(row) == audit.canonical_bytes(stored, prev_hash)


@pytest.mark.parametrize(("event", "prev_hash", "expected"), [(FIRST, "", FIRST_BYTES)])
def test_the_fast_encoder_gives_the_known_answer_vectors(event, prev_hash, expected):
    content = audit.canonical_content(event)
    encoder = RowEncoder()
    assert encoder.canonical(row_of(content, prev_hash, SPELLINGS[0])) == expected
    second = audit.canonical_content(SECOND)
    assert encoder.canonical(row_of(second, FIRST_HASH, SPELLINGS[3])) == SECOND_BYTES


def test_every_character_json_escapes_in_every_text_field_gives_the_canonical_bytes():
    # Exhaustive where the property test samples: the template's "no escaping" check.
    encoder = RowEncoder()
    for key in TEXT_KEYS:
        for character in ['"', "\\", *map(chr, range(0x20)), "\x7f", "é"]:
            content = audit.canonical_content(FIRST)
            content[key] = f"a{character}b"
            row = row_of(content, "", SPELLINGS[0])
            assert encoder.canonical(row) == audit.canonical_bytes(content, ""), (key, character)


def test_a_repeated_json_text_is_encoded_once_and_the_cache_stays_bounded():
    encoder = RowEncoder()
    content = audit.canonical_content(FIRST)
    for number in range(5000):
        content["changes"] = {"n": number}
        row = row_of(content, "", SPELLINGS[0])
        assert encoder.canonical(row) == audit.canonical_bytes(content, "")
    assert 0 < len(encoder._changes) <= 4096


def test_a_json_column_with_blanks_around_it_is_read_as_the_orm_reads_it():
    assert canonical_json(b' {"b": 1, "a": [true, null]} ') == b'{"a":[true,null],"b":1}'
    with pytest.raises(json.JSONDecodeError):
        canonical_json(b'{"a": 1} x')


@settings(max_examples=50, deadline=None)
@given(key_id=st.from_regex(r"[A-Za-z0-9_.-]{1,32}", fullmatch=True), hashed=HEX)
def test_the_prepared_mac_is_the_key_rings_mac(key_id, hashed):
    ring = audit.parse_key_ring(f"{key_id}:{secrets.token_urlsafe(48)}")
    assert ring.mac_function(key_id)(hashed.encode()) == ring.mac(key_id, hashed).encode()
    assert ring.mac_functions()[key_id.encode()](hashed.encode()).decode() == ring.mac(
        key_id, hashed
    )


def test_the_prepared_mac_gives_the_known_answer_mac():
    from .test_audit_vectors import FIRST_MAC, KAT_RING

    mac = audit.parse_key_ring(KAT_RING).mac_function("kat")
    assert mac(FIRST_HASH.encode()) == FIRST_MAC.encode()


def test_the_expected_index_is_what_json_agg_writes_for_what_the_writer_indexes():
    assert expected_index(["1001", "CC100", "cc100"]) == b'["1001", "CC100"]'
    assert expected_index([]) == b"[]"
    # Text that json_agg would escape, or no list of logins: the exact comparison decides.
    assert expected_index(['a"b']) is None
    assert expected_index([1]) is None
    assert expected_index(None) is None


# --- what PostgreSQL supplies -----------------------------------------------------------


def copied(sql: str, params=()) -> list[list[bytes | None]]:
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        return [[copy_field(f) for f in bytes(data)[:-1].split(b"\t")] for data in copy]


@pytest.mark.postgres_only
@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")))
def test_copy_fields_read_back_exactly_what_postgresql_stores(text):
    [[value, null]] = copied("COPY (SELECT %s::text, NULL::text) TO STDOUT", [text])
    assert (value, null) == (text.encode(), None)


# Instants whose hashed_time PostgreSQL must write the same: microseconds or none, and the
# years to_char pads.
PADDED_MOMENTS = [
    datetime(2026, 1, 15, 9, 30, 0, 123456, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


@pytest.mark.postgres_only
@pytest.mark.django_db
@pytest.mark.parametrize("moment", PADDED_MOMENTS)
def test_postgresql_writes_occurred_at_as_hashed_time_does(moment):
    with connection.cursor() as cursor:
        # Whatever the session's zone: the expression converts to UTC itself.
        cursor.execute("SET LOCAL TimeZone = 'America/New_York'")
    expression = COPY_SQL.split("e.sequence, ", 1)[1].split(", e.event_type", 1)[0]
    sql = f"COPY (SELECT {expression.replace('e.occurred_at', '%s::timestamptz')}) TO STDOUT"
    assert copied(sql, [moment]) == [[audit.hashed_time(moment).encode()]]


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_the_index_text_of_recorded_events_is_the_expected_one():
    audit.record(event_type=audit.EventType.AUDIT_VIEWED, extensions=["1001", "CC100", "cc100"])
    audit.record(event_type=audit.EventType.AUDIT_VIEWED)
    rows = copied(COPY_SQL, [1, 2])
    indexed = ROW_KEYS.index("indexed")
    assert [row[indexed] for row in rows] == [b'["1001", "CC100"]', b"[]"]
    assert [expected_index(json.loads(row[ROW_KEYS.index("extensions")])) for row in rows] == [
        row[indexed] for row in rows
    ]
