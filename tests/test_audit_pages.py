"""The audit trail's pages and exports: a filter that fails shows nothing, times name their
true zone, and no CSV cell is a spreadsheet formula."""

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from django.test import Client
from django.urls import reverse

from aliases import audit, selectors
from aliases.models import AuditEvent
from aliases.spreadsheet import csv_cell

from .base import submit

Type = AuditEvent.Type
AUDIT = reverse("aliases:audit_list")


def exported(client: Client, fmt: str, **filters) -> str:
    response = client.get(reverse("aliases:audit_export", args=[fmt]), filters)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


# --- CSV formula injection ------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://203.0.113.9/","open")', "+1+2", "-2+3", "@SUM(A1:A9)"]
# Django strips the username, so tab and CR arrive through the User-Agent only.
AGENTS = ["=cmd|' /C calc'!A0", "\tTAB first", "\rCR first", "@agent"]


@pytest.fixture
def hostile_logins(users):
    for username, agent in zip(FORMULAS, AGENTS, strict=True):
        anonymous = Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=agent)
        anonymous.post(reverse("login"), {"username": username, "password": "guess"})
    return FORMULAS, AGENTS


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
        (12, 12),
        (None, None),
    ],
)
def test_csv_cell_escapes_what_a_spreadsheet_would_run(value, cell):
    assert csv_cell(value) == cell


def test_the_csv_export_has_no_cell_that_starts_a_formula(client_for, hostile_logins):
    usernames, agents = hostile_logins
    rows = list(csv.DictReader(io.StringIO(exported(client_for("auditor"), "csv"))))
    failed = [row for row in rows if row["event_type"] == Type.LOGIN_FAILED]
    assert [row["actor_username"] for row in failed] == [f"'{name}" for name in usernames]
    assert [row["user_agent"] for row in failed] == [f"'{agent}" for agent in agents]
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)


def test_the_jsonl_export_keeps_the_values_as_hashed(client_for, hostile_logins):
    usernames, agents = hostile_logins
    lines = [json.loads(line) for line in exported(client_for("auditor"), "jsonl").splitlines()]
    failed = [line for line in lines if line["event_type"] == Type.LOGIN_FAILED]
    assert [line["actor_username"] for line in failed] == usernames
    assert [line["user_agent"] for line in failed] == agents
    stored = {event.sequence: event for event in AuditEvent.objects.all()}
    for line in failed:
        assert line == audit.export_line(stored[line["sequence"]])


# --- an invalid filter shows its error, and no rows ---------------------------------------

INVALID = [
    {"extension": "10 01"},
    {"since": "2026-13-01"},
    {"until": "2026-02-30"},
    {"extension": "1001", "since": "2026-13-01"},
    {"event_type": "no.such.type"},
]


@pytest.mark.parametrize("filters", INVALID)
def test_an_invalid_filter_shows_its_error_and_no_rows(client_for, users, filters):
    submit(users["supervisor"], logins="1001")
    response = client_for("auditor").get(AUDIT, filters)
    assert response.status_code == 200
    assert response.context["page"].events == []
    errors = response.context["form"].errors
    assert errors and set(errors) <= set(filters)
    page = response.content.decode()
    assert "No events are shown: correct the filters" in page
    assert "No events." in page
    assert "Export CSV" not in page
    viewed = AuditEvent.objects.get(event_type=Type.AUDIT_VIEWED)
    assert viewed.changes["shown"] == []
    assert viewed.changes["refused_filters"] == sorted(response.context["form"].errors)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_with_an_invalid_filter_is_refused_readably(client_for, users, fmt):
    submit(users["supervisor"])
    response = client_for("auditor").get(
        reverse("aliases:audit_export", args=[fmt]), {"since": "2026-13-01", "extension": "1001"}
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert text.startswith("Nothing was exported: the filters are not valid (Since")
    assert "Enter a valid date." in text
    assert not AuditEvent.objects.filter(event_type=Type.AUDIT_EXPORTED).exists()


def test_valid_filters_still_filter(client_for, users):
    submit(users["supervisor"], alias_id="one_1", logins="1001")
    submit(users["supervisor"], alias_id="two_2", logins="2001")
    response = client_for("auditor").get(AUDIT, {"extension": "2001"})
    assert {event.request.alias_id for event in response.context["page"].events} == {"two_2"}
    assert "Export CSV" in response.content.decode()


# --- times name the zone they are in, with seconds ----------------------------------------

EARLY = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # 23:30 on the 25th in Kolkata
LATE = datetime(2026, 11, 25, 20, 0, 7, tzinfo=UTC)  # 01:30:07 on the 26th in Kolkata


@pytest.fixture
def kolkata(settings, users, time_machine):
    """A zone far from UTC, without daylight saving: +05:30 all year."""
    settings.TIME_ZONE = "Asia/Kolkata"
    for moment, reason in ((EARLY, "early"), (LATE, "late")):
        time_machine.move_to(moment, tick=False)
        audit.record(event_type=Type.EXTENSIONS_IMPORTED, reason=reason)
    time_machine.move_to(datetime(2026, 12, 1, 12, 0, tzinfo=UTC), tick=False)


def reasons(response) -> list[str]:
    return [event.reason for event in response.context["page"].events]


def test_the_trail_names_the_zone_its_times_are_in(client_for, kolkata):
    page = client_for("auditor").get(AUDIT).content.decode()
    assert "When (Asia/Kolkata)" in page
    assert "UTC" not in page
    assert "2026-11-26 01:30:07 IST" in page
    assert "2026-11-25 23:30:00 IST" in page


def test_days_in_the_filters_are_days_of_that_zone(client_for, kolkata):
    auditor = client_for("auditor")
    day = {"since": "2026-11-26", "until": "2026-11-26"}
    assert reasons(auditor.get(AUDIT, day)) == ["late"]
    assert reasons(auditor.get(AUDIT, {"until": "2026-11-25"})) == ["early"]
    form = auditor.get(AUDIT).context["form"]
    assert form["since"].label == "Since (day, Asia/Kolkata)"


def test_day_filters_are_ranges_the_occurred_at_index_serves(kolkata):
    sql = str(
        selectors.audit_events_filtered(since=date(2026, 11, 26), until=date(2026, 11, 26)).query
    )
    # A __date lookup converts every row's time first (SQLite's django_datetime_cast_date,
    # PostgreSQL's AT TIME ZONE ...::date), which no index on occurred_at can serve.
    assert "cast_date" not in sql
    assert "AT TIME ZONE" not in sql.upper()
    assert '"occurred_at" >= ' in sql and '"occurred_at" < ' in sql


def test_days_at_the_ends_of_the_calendar_leave_that_end_open(kolkata):
    # Midnight of 0001-01-01 in Kolkata is before year 1 in UTC; the day after 9999-12-31 is none.
    assert len(selectors.audit_events_filtered(since=date.min)) == 2
    assert len(selectors.audit_events_filtered(until=date.max)) == 2
    assert len(selectors.audit_events_filtered(since=date.max)) == 0


def test_the_admin_shows_seconds_and_the_zone(client_for, kolkata):
    changelist = client_for("auditor").get(reverse("admin:aliases_auditevent_changelist"))
    page = changelist.content.decode()
    assert "2026-11-26 01:30:07 IST" in page
    late = AuditEvent.objects.get(reason="late")
    change = client_for("auditor").get(reverse("admin:aliases_auditevent_change", args=[late.pk]))
    assert "2026-11-26 01:30:07 IST" in change.content.decode()


def test_request_pages_show_seconds_and_the_zone(client_for, users, settings, time_machine):
    settings.TIME_ZONE = "America/New_York"
    time_machine.move_to(datetime(2026, 7, 1, 12, 0, 5, tzinfo=UTC), tick=False)
    alias_request = submit(users["supervisor"])
    detail = client_for("supervisor").get(
        reverse("aliases:request_detail", args=[alias_request.pk])
    )
    assert "2026-07-01 08:00:05 EDT" in detail.content.decode()
    listing = client_for("supervisor").get(reverse("aliases:request_list"))
    assert "2026-07-01 08:00:05 EDT" in listing.content.decode()
