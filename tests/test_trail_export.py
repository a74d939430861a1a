"""Exports read in keyset chunks (through the per-extension index when an extension is asked
for) give byte for byte what one cursor over the filtered trail gave, and still verify."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aliases import audit, selectors
from aliases.audit import verify_export
from aliases.models import AuditEvent
from aliases.selectors_trail import ExportOutOfOrder, _in_trail_order
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


def _one_cursor(fmt: str, filters: dict, up_to: int) -> bytes:
    """The export as it was written before the keyset chunks: one ordered iterator."""
    form = audit_views.AuditFilterForm(filters or None)
    events = selectors.audit_events_filtered(**form.active_filters())
    rows = events.filter(sequence__lte=up_to).order_by("sequence").iterator(chunk_size=1000)
    lines = audit_views._csv_rows(rows) if fmt == "csv" else audit_views._jsonl_rows(rows)
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
    report = verify_export(lines)
    assert report.ok, report.problem
    assert report.count == len(lines) > 8


def test_the_whole_trail_export_in_chunks_verifies_as_one_chain(trail, client_for, monkeypatch):
    monkeypatch.setattr(audit_views, "EXPORT_CHUNK_SIZE", 3)
    lines = _download(client_for("auditor"), "jsonl", {}).decode().splitlines()
    report = verify_export(lines)
    assert report.ok, report.problem
    assert report.count == AuditEvent.objects.count()


class _Event:
    def __init__(self, sequence: int) -> None:
        self.sequence = sequence


def test_an_event_out_of_trail_order_stops_the_export():
    """Ids follow sequences only while the audit writer writes every event; an export that
    would come out of order stops instead, and verify_export would refuse it."""
    chunks = iter([[_Event(1), _Event(2)], [_Event(5), _Event(3)]])
    exported = _in_trail_order(chunks)
    assert [next(exported).sequence for _ in range(3)] == [1, 2, 5]
    with pytest.raises(ExportOutOfOrder, match="#3 came after #5"):
        next(exported)
