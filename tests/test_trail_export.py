"""Exports read in keyset chunks (through the per-extension index when an extension is asked
for) give byte for byte what one cursor over the filtered trail gave, and still verify."""

import csv
import json
import re
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aliases import audit, selectors
from aliases.audit import verify_export
from aliases.models import AuditEvent
from aliases.selectors_trail import EXPORTED_FIELDS, SEQUENCE, ExportOutOfOrder, _in_trail_order
from aliases.spreadsheet import csv_cell
from aliases.views import audit as audit_views

from .base import logins_of_event, submit

Type = AuditEvent.Type


@pytest.fixture
def trail(users):
    """Events about 3001 in three spellings, alone or with other phones, among others'."""
    submit(users["supervisor"], alias_id="ring_3001", logins="3001,4001")
    for number in range(30):
        logins = logins_of_event(number)
        event_type = Type.EXTENSIONS_SYNCED if number % 3 else Type.EXTENSIONS_IMPORTED
        audit.record(
            event_type=event_type,
            extensions=logins,
            reason=f"=cell {number}",
            changes={"n": number},
        )


def _download(client, fmt: str, filters: dict) -> bytes:
    response = client.get(reverse("aliases:audit_export", args=[fmt]), filters)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def _csv_lines(events) -> Iterator[str]:
    """The CSV export as it was written, a model and a csv.writer row per event."""

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    yield writer.writerow(audit_views.CSV_COLUMNS)
    for event in events:
        line = audit.export_line(event)
        line["extensions"] = " ".join(line["extensions"])
        line["changes"] = json.dumps(line["changes"], sort_keys=True, ensure_ascii=False)
        yield writer.writerow([csv_cell(line[c]) for c in audit_views.CSV_COLUMNS])


def _jsonl_lines(events) -> Iterator[str]:
    for event in events:
        yield json.dumps(audit.export_line(event), sort_keys=True, ensure_ascii=False) + "\n"


def _one_cursor(fmt: str, filters: dict, up_to: int) -> bytes:
    """The export as it was written before the keyset chunks: one ordered iterator."""
    form = audit_views.AuditFilterForm(filters or None)
    events = selectors.audit_events_filtered(**form.active_filters())
    rows = events.filter(sequence__lte=up_to).order_by("sequence").iterator(chunk_size=1000)
    lines = _csv_lines(rows) if fmt == "csv" else _jsonl_lines(rows)
    return "".join(lines).encode()


FILTERS = [
    {},
    {"extension": "EXT3001"},
    {"extension": "4001", "event_type": Type.EXTENSIONS_IMPORTED},
    {"event_type": Type.EXTENSIONS_SYNCED},
    {"extension": "nobody"},
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("chunk", [1, 2000])
def test_chunks_export_exactly_what_one_cursor_did(
    trail, client_for, monkeypatch, fmt, filters, chunk
):
    monkeypatch.setattr(audit_views, "EXPORT_CHUNK_SIZE", chunk)
    got = _download(client_for("auditor"), fmt, filters)
    # Up to and including the export's own record, as before.
    up_to = AuditEvent.objects.filter(event_type=Type.AUDIT_EXPORTED).get().sequence
    assert got == _one_cursor(fmt, filters, up_to)
    assert got.count(b"\n") > 1 or filters == {"extension": "nobody"}


def test_the_extension_export_reads_the_index_a_chunk_at_a_time(trail, client_for, monkeypatch):
    monkeypatch.setattr(audit_views, "EXPORT_CHUNK_SIZE", 4)
    auditor = client_for("auditor")
    with CaptureQueriesContext(connection) as queries:
        text = _download(auditor, "jsonl", {"extension": "ext3001"}).decode()
    lines = text.splitlines()
    boundaries = [q["sql"] for q in queries if "LIMIT 1 OFFSET 3" in q["sql"]]
    chunks = [
        q["sql"] for q in queries if q["sql"].startswith('SELECT "aliases_auditevent"."sequence"')
    ]
    # A chunk of 4 ids at a time, then the rest (perhaps none) after the last full one.
    assert len(boundaries) == len(chunks) == len(lines) // 4 + 1
    assert all('FROM "aliases_auditeventextension"' in sql for sql in boundaries)
    # Each chunk joins a range of the index; no list of ids travels back to the database.
    assert all('FROM "aliases_auditeventextension"' in sql for sql in chunks)
    assert all('"event_id" > ' in sql for sql in chunks)
    assert not [sql for sql in chunks if re.search(r"IN \(\d", sql)]
    # The index's ids as a LIMIT subquery, not a range of ids: PostgreSQL reads them from the
    # per-extension index, where for a range it chose the event_id index over all logins.
    assert all(re.search(r"IN \(SELECT .* LIMIT 4\)", sql) for sql in chunks)
    report = verify_export(lines)
    assert report.ok, report.problem
    assert report.count == len(lines) > 8


def test_the_whole_trail_export_in_chunks_verifies_as_one_chain(trail, client_for, monkeypatch):
    monkeypatch.setattr(audit_views, "EXPORT_CHUNK_SIZE", 3)
    lines = _download(client_for("auditor"), "jsonl", {}).decode().splitlines()
    report = verify_export(lines)
    assert report.ok, report.problem
    assert report.count == AuditEvent.objects.count()


def _row(sequence: int) -> tuple:
    return (sequence, *[None] * (len(EXPORTED_FIELDS) - 1))


def test_an_event_out_of_trail_order_stops_the_export():
    """Ids follow sequences only while the audit writer writes every event; an export that
    would come out of order stops instead, and verify_export would refuse it. The chunk
    that holds it does not go out at all."""
    chunks = iter([[_row(1), _row(2)], [_row(5), _row(3)]])
    exported = _in_trail_order(chunks)
    assert [row[SEQUENCE] for row in next(exported)] == [1, 2]
    with pytest.raises(ExportOutOfOrder, match="#3 came after #5"):
        next(exported)


def test_a_chunk_older_than_the_last_one_stops_the_export():
    exported = _in_trail_order(iter([[_row(4), _row(7)], [_row(7), _row(8)]]))
    next(exported)
    with pytest.raises(ExportOutOfOrder, match="#7 came after #7"):
        next(exported)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_export_goes_out_a_chunk_at_a_time_not_a_row_at_a_time(
    trail, client_for, monkeypatch, fmt
):
    """Each piece handed to the server is a chunk's text: a trip through the WSGI iterator
    per chunk, not per event."""
    monkeypatch.setattr(audit_views, "EXPORT_CHUNK_SIZE", 4)
    response = client_for("auditor").get(reverse("aliases:audit_export", args=[fmt]))
    pieces = list(response.streaming_content)
    header = 1 if fmt == "csv" else 0
    events = b"".join(pieces).count(b"\n") - header
    assert events > 8
    assert len(pieces) == header + -(-events // 4)
    assert all(piece.count(b"\n") == 4 for piece in pieces[header:-1])
