"""The chunked export encoder writes what the export wrote row by row, for any event.

The definition: json.dumps(export_line(event), sort_keys=True, ensure_ascii=False) for a
JSONL line, and csv.writer's row of csv_cell(...) of export_line's values (the extensions
joined by spaces, the changes as JSON) for a CSV row, over the values the ORM read. The
encoder gets the rows as the export's queries hand them over: the JSON columns as text in
whatever spelling the database keeps, occurred_at as a datetime or as hashed_time's text.
"""

import csv
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.models import DateTimeField, Value
from hypothesis import given, settings
from hypothesis import strategies as st

from aliases import audit
from aliases.audit.export_rows import EXPORT_KEYS, ExportEncoder
from aliases.models import AuditEvent
from aliases.selectors_trail import EXPORTED_FIELDS, HashedTimeText
from aliases.spreadsheet import csv_cell
from aliases.views.audit import CSV_COLUMNS

from .test_audit_rows import JSON_VALUE, PADDED_MOMENTS, SPELLINGS, TEXT

# Text cells that a spreadsheet would run, or that csv must quote, come often.
RISKY = st.sampled_from(["=1+1", "+x", "-3", "@a", "\tt", "\rr", 'a"b', "a,b", "a\nb", ""])
CELL_TEXT = TEXT | RISKY | st.builds(str.__add__, RISKY, TEXT)
IDS = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
# What a JSON column may hold; text that is not JSON at all (SQLite keeps any text), which
# the ORM hands over as the text itself.
EXTENSIONS = st.lists(CELL_TEXT, max_size=4)
CHANGES = st.dictionaries(CELL_TEXT, JSON_VALUE, max_size=5) | JSON_VALUE
SPELLED = st.sampled_from(SPELLINGS)
NOT_JSON = st.sampled_from(["", "{", "[1,", "not json", "\ufeff[]"])

EVENT = st.fixed_dictionaries(
    {
        "sequence": st.integers(min_value=0, max_value=2**63 - 1),
        "occurred_at": MOMENTS,
        "event_type": CELL_TEXT,
        "actor_id": IDS,
        "actor_username": CELL_TEXT,
        "actor_role": CELL_TEXT,
        "source_ip": CELL_TEXT,
        "user_agent": CELL_TEXT,
        "correlation_id": CELL_TEXT,
        "request_id": IDS,
        "call_id": IDS,
        "outcome": CELL_TEXT,
        "reason": CELL_TEXT,
        "prev_hash": CELL_TEXT,
        "hash": CELL_TEXT,
        "key_id": CELL_TEXT,
        "mac": CELL_TEXT,
    }
)


def orm_value(raw: str):
    """What Django's JSONField.from_db_value reads from a column's text."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


@st.composite
def stored_events(draw):
    """An event's fields, with each JSON column as the text the database hands over."""
    event = draw(EVENT)
    for name, values in (("extensions", EXTENSIONS), ("changes", CHANGES)):
        if draw(st.integers(0, 9)) == 0:
            event[name] = draw(NOT_JSON)
        else:
            event[name] = draw(SPELLED)(draw(values))
    return event


def row_of(event: dict, time_as_text: bool) -> tuple:
    fields = dict(event)
    if time_as_text:  # as PostgreSQL writes it (HashedTimeText)
        fields["occurred_at"] = audit.hashed_time(event["occurred_at"])
    return tuple(fields[key] for key in EXPORT_KEYS)


def model_of(event: dict) -> SimpleNamespace:
    """The event as the export read it before: the JSON columns parsed by the ORM."""
    parsed = {name: orm_value(event[name]) for name in ("extensions", "changes")}
    return SimpleNamespace(**{**event, **parsed})


def jsonl_line(event) -> str:
    return json.dumps(audit.export_line(event), sort_keys=True, ensure_ascii=False) + "\n"


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_row(event) -> str:
    line = audit.export_line(event)
    line["extensions"] = " ".join(line["extensions"])
    line["changes"] = json.dumps(line["changes"], sort_keys=True, ensure_ascii=False)
    return csv.writer(_Echo()).writerow([csv_cell(line[column]) for column in CSV_COLUMNS])


def test_the_rows_are_in_the_selectors_and_the_csv_columns_order():
    assert EXPORT_KEYS == EXPORTED_FIELDS == tuple(CSV_COLUMNS)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(stored_events(), min_size=1, max_size=4), time_as_text=st.booleans())
def test_a_chunk_of_jsonl_lines_is_json_dumps_of_export_line(events, time_as_text):
    rows = [row_of(event, time_as_text) for event in events]
    expected = "".join(jsonl_line(model_of(event)) for event in events)
    assert ExportEncoder().jsonl(rows) == expected


def _joinable(event: dict) -> bool:
    # The CSV joins the extensions: a list of anything else fails there, before and now.
    extensions = orm_value(event["extensions"])
    return isinstance(extensions, list | str) and all(isinstance(x, str) for x in extensions)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(stored_events(), min_size=1, max_size=4), time_as_text=st.booleans())
def test_a_chunk_of_csv_rows_is_what_csv_writer_wrote(events, time_as_text):
    events = [event for event in events if _joinable(event)]
    rows = [row_of(event, time_as_text) for event in events]
    expected = "".join(csv_row(model_of(event)) for event in events)
    assert ExportEncoder().csv(rows) == expected


def plain_event(**fields) -> dict:
    event = {
        **dict.fromkeys(EXPORT_KEYS, "x"),
        "sequence": 7,
        "occurred_at": datetime(2026, 1, 15, 9, 30, 0, 123456, tzinfo=UTC),
        "actor_id": None,
        "request_id": 3,
        "call_id": None,
        "extensions": '["1001"]',
        "changes": '{"b": 1, "a": [true, null]}',
    }
    return {**event, **fields}


def test_csv_quotes_exactly_the_cells_csv_writer_quotes():
    """Every character alone, at the start and inside a cell: csv.writer's choice of
    quoting depends on which characters a cell holds."""
    events = [
        plain_event(user_agent=char, reason=f"a{char}b", outcome=char * 2)
        for char in [chr(code) for code in range(0x3000)] + ["\u2028", "\ufeff", "\U0010ffff"]
    ]
    rows = [row_of(event, time_as_text=True) for event in events]
    expected = "".join(csv_row(model_of(event)) for event in events)
    assert ExportEncoder().csv(rows) == expected


def test_a_repeated_json_text_is_parsed_once_and_the_cache_stays_bounded():
    encoder = ExportEncoder()
    event = plain_event()
    for number in range(5000):
        event["changes"] = json.dumps({"n": number})
        assert encoder.jsonl([row_of(event, True)]) == jsonl_line(model_of(event))
    assert 0 < len(encoder._known) <= 4096
    assert '["1001"]' in encoder._known


def test_the_cache_keeps_text_not_parsed_values():
    # Parsed dicts and lists held by the thousand made every full pass of the garbage
    # collector walk them: a third of the export's time.
    encoder = ExportEncoder()
    rows = [row_of(plain_event(changes=json.dumps({"n": [n]})), True) for n in range(50)]
    encoder.jsonl(rows)
    encoder.csv(rows)
    kept = [*encoder._known.values(), *encoder._joined.values()]
    assert len(kept) > 50
    assert {type(text) for text in kept} == {str}


def test_a_chunk_is_written_a_column_at_a_time_as_row_by_row():
    """A cell that needs quoting, a formula guard, or is not text changes how its column
    (or the whole chunk) is written, never what: every row as csv.writer and json.dumps."""
    events = [plain_event(sequence=number) for number in range(6)]
    events[1]["user_agent"] = events[4]["user_agent"] = "Mozilla/5.0 (KHTML, like Gecko)"
    events[2]["reason"] = "=HYPERLINK()"
    events[3]["hash"] = 'a"b'
    events[5]["call_id"] = 12
    mixed = [*events, plain_event(reason=None, request_id=None)]
    for chunk in (events, mixed):
        rows = [row_of(event, time_as_text=True) for event in chunk]
        expected_csv = "".join(csv_row(model_of(event)) for event in chunk)
        expected_jsonl = "".join(jsonl_line(model_of(event)) for event in chunk)
        assert ExportEncoder().csv(rows) == expected_csv
        assert ExportEncoder().jsonl(rows) == expected_jsonl


def test_a_text_column_holding_something_else_is_written_as_before():
    # Not what the database hands over; the encoder still writes what json.dumps and
    # csv.writer wrote, cell by cell.
    event = plain_event(reason=None, outcome=3, actor_id=True, request_id=1.5)
    row = row_of(event, time_as_text=False)
    assert ExportEncoder().jsonl([row]) == jsonl_line(model_of(event))
    assert ExportEncoder().csv([row]) == csv_row(model_of(event))


@pytest.mark.postgres_only
@pytest.mark.django_db
@pytest.mark.parametrize("moment", PADDED_MOMENTS)
def test_postgresql_writes_occurred_at_as_hashed_time_does(moment):
    audit.record(event_type=audit.EventType.AUDIT_VIEWED)
    with connection.cursor() as cursor:
        # Whatever the session's zone: the expression converts to UTC itself.
        cursor.execute("SET LOCAL TimeZone = 'America/New_York'")
    text = AuditEvent.objects.annotate(
        at=HashedTimeText(Value(moment, output_field=DateTimeField()))
    ).values_list("at", flat=True)[0]
    assert text == audit.hashed_time(moment)
