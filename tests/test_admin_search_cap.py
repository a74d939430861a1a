"""The admin's event search reads at most SEARCH_CAP of an extension's index rows: the
newest, which are all the changelist can show, whatever the busiest extension holds."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aliases import admin_search, audit
from aliases.models import AuditEvent

Type = AuditEvent.Type


def _record(count: int, login: str) -> list[int]:
    return [
        audit.record(event_type=Type.EXTENSIONS_IMPORTED, extensions=[login], reason=str(n)).pk
        for n in range(count)
    ]


def test_a_busy_extension_finds_its_newest_events_first(db, monkeypatch):
    monkeypatch.setattr(admin_search, "SEARCH_CAP", 3)
    ids = _record(5, "Busy1")
    assert admin_search.audit_event_ids("BUSY1") == sorted(ids, reverse=True)[:3]


def test_the_newest_of_every_key_are_merged_before_the_cap(db, users, monkeypatch):
    monkeypatch.setattr(admin_search, "SEARCH_CAP", 2)
    by_login = _record(2, "Mixed1")
    # Newer events found by the other key (the actor) push the extension's out.
    newer = [
        audit.record(event_type=Type.EXTENSIONS_IMPORTED, actor=users["admin"], reason="x").pk
        for _ in range(2)
    ]
    username = users["admin"].username
    assert admin_search.audit_event_ids(username) == sorted(newer, reverse=True)
    assert admin_search.audit_event_ids("mixed1") == sorted(by_login, reverse=True)


@pytest.mark.skipif(
    not connection.features.supports_slicing_ordering_in_compound,
    reason="SQLite takes no LIMIT in a compound statement's arm",
)
def test_the_extension_arm_is_cut_in_the_database(db, monkeypatch):
    monkeypatch.setattr(admin_search, "SEARCH_CAP", 3)
    _record(5, "Busy2")
    with CaptureQueriesContext(connection) as queries:
        admin_search.audit_event_ids("busy2")
    (union,) = [query["sql"] for query in queries if "UNION" in query["sql"]]
    extension_arm = union.split("UNION")[0]
    assert "aliases_auditeventextension" in extension_arm
    assert "ORDER BY" in extension_arm and "LIMIT 3" in extension_arm
