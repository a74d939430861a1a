"""The JSON columns' fast path: orjson where it spells a value as json does, json elsewhere.

verify_audit re-encodes each event's `changes` (and, on a cache miss, `extensions`) from the
database's text. orjson does it about three times faster, but writes some floats otherwise
(1e-7 where json writes 1e-07) and reads integers beyond 64 bits as floats; rows.py sends
every text that may hold such a number to json. These prove the result byte-identical to
chain.canonical_bytes for any value, spelling or text, valid or not.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aliases import audit
from aliases.audit import rows
from aliases.audit.rows import canonical_json, exact_json

from .test_audit_rows import SPELLINGS, TEXT, copied
from .test_audit_vectors import FIRST

# Integers at and around the 64-bit edges, where orjson starts reading floats.
EDGE_INTEGERS = st.sampled_from(
    [2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, -(2**64), 10**18, 10**19]
)
NUMBERS = st.integers() | EDGE_INTEGERS | st.floats() | st.integers(-(2**70), 2**70)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=16,
)


def reversed_keys(value):
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


# Each database's spelling too: keys in another order, blanks around the document.
ALL_SPELLINGS = [
    *SPELLINGS,
    lambda value: json.dumps(reversed_keys(value), ensure_ascii=False),
    lambda value: " \n" + json.dumps(value, indent="\t") + "\r\n",
]


def hashed_as(value) -> bytes:
    """`value` as canonical_bytes writes it inside an event."""
    return audit.canonical_bytes({"changes": value}, "")[len(b'{"changes":') : -1]


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUE, spell=st.sampled_from(ALL_SPELLINGS))
def test_any_value_in_any_spelling_is_encoded_as_canonical_bytes_does(value, spell):
    raw = spell(value).encode()
    assert canonical_json(raw) == hashed_as(json.loads(raw)) == exact_json(raw)


@settings(max_examples=300, deadline=None)
@given(key=TEXT, other=TEXT, text=TEXT)
def test_keys_sort_and_strings_escape_as_json_does(key, other, text):
    # Non-ASCII, astral and control characters, in keys and values.
    raw = json.dumps({key: text, other: [text, key]}).encode()
    assert canonical_json(raw) == hashed_as(json.loads(raw))


JSONISH = st.text(st.sampled_from(list('{}[]":,-+.0123456789eE \t\n\\u/ntrufalsé\x01\x7f')))


def outcome(encode, raw: bytes):
    try:
        return encode(raw)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        return type(error)


@settings(max_examples=400, deadline=None)
@given(
    raw=JSONISH.map(str.encode)
    | st.binary(max_size=40)
    | JSON_VALUE.map(lambda value: json.dumps(value).encode()).flatmap(
        lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut] + raw[cut + 1 :])
    )
)
def test_any_text_is_read_as_json_reads_it_or_refused_alike(raw):
    # orjson must never take a text json refuses, nor read one otherwise.
    assert outcome(canonical_json, raw) == outcome(exact_json, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"x": 1e-7}',
        b'{"x": 1.5}',
        b"[1E2]",
        b"[18446744073709551616]",
        b"[-9223372036854775809]",
        b"[NaN, Infinity, -Infinity]",
        b'"\\ud800"',  # read by json, refused by orjson and by the UTF-8 encoder
        *(b"[" * depth + b"]" * depth for depth in (500, 1024, 1025, 2000)),
    ],
)
def test_floats_wide_integers_and_what_orjson_refuses_go_to_json(raw):
    expected = outcome(lambda raw: hashed_as(json.loads(raw)), raw)
    assert outcome(canonical_json, raw) == outcome(exact_json, raw) == expected


def test_integer_only_json_takes_the_fast_path_and_a_float_does_not(monkeypatch):
    calls = []

    def counted(raw):
        calls.append(raw)
        return exact_json(raw)

    monkeypatch.setattr(rows, "exact_json", counted)
    # As jsonb writes it: UTF-8, not \u00e9 (whose "0e" would look like a float).
    plain = json.dumps(FIRST.changes, ensure_ascii=False).encode()
    assert canonical_json(plain) == hashed_as(FIRST.changes)
    assert canonical_json(b'{"n": 123456789012345678}') == b'{"n":123456789012345678}'
    assert calls == []
    # Text that looks like a float goes to json too: slower, never wrong.
    assert canonical_json(b'{"s": "v1.2"}') == b'{"s":"v1.2"}'
    assert calls == [b'{"s": "v1.2"}']
    assert canonical_json(b'{"t": 0.5}') == b'{"t":0.5}'
    assert len(calls) == 2


@pytest.mark.postgres_only
@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | EDGE_INTEGERS
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_jsonb_text_as_postgresql_writes_it_is_encoded_as_json_reads_it(value):
    # jsonb's own spelling: keys by length, its numeric's digits (1.50, no exponents).
    [[raw]] = copied("COPY (SELECT %s::jsonb) TO STDOUT", [json.dumps(value)])
    assert canonical_json(raw) == exact_json(raw) == hashed_as(json.loads(raw))
