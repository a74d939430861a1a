"""Keyset pages of the audit trail: the per-extension index path gives exactly the pages the
plain filter gives, with no row twice and none missed, oldest page included; and day filters
are days of TIME_ZONE, daylight saving included."""

import re
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from aliases import audit, selectors
from aliases.models import AuditEvent
from aliases.selectors_trail import audit_events_page, extension_events_page

from .base import logins_of_event

Type = AuditEvent.Type
SAME_MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def trail(db, time_machine):
    """23 events naming 3001 (in three spellings, some with other logins), mixed with events
    about other phones; every event at the same instant, so only sequences order them."""
    time_machine.move_to(SAME_MOMENT, tick=False)
    for number in range(40):
        logins = logins_of_event(number)
        audit.record(event_type=Type.EXTENSIONS_IMPORTED, extensions=logins, reason=str(number))
    return "ext3001"


def _about(login: str) -> list[int]:
    return sorted(
        (
            event.sequence
            for event in AuditEvent.objects.all()
            if login in {name.lower() for name in event.extensions}
        ),
        reverse=True,
    )


def _pages(read, *, size: int, start: dict) -> list[list[int]]:
    """Follows the links one way from `start` ("before"/"after"), as the pager would."""
    pages, cursor = [], start
    while True:
        page = read(size=size, **cursor)
        pages.append([event.sequence for event in page.events])
        if "after" in cursor:
            if page.newer_than is None:
                return pages
            cursor = {"after": page.newer_than}
        else:
            if page.older_than is None:
                return pages
            cursor = {"before": page.older_than}


def _by_index(trail):
    return lambda **kwargs: extension_events_page(login=trail, **kwargs)


def _by_filter(trail):
    events = selectors.audit_events_filtered(extension=trail)
    return lambda **kwargs: audit_events_page(events, **kwargs)


@pytest.mark.parametrize("size", [1, 4, 5, 23, 50])
def test_older_pages_cover_the_extension_once_in_order(trail, size):
    pages = _pages(_by_index(trail), size=size, start={})
    walked = [sequence for page in pages for sequence in page]
    assert walked == _about(trail)  # no duplicate, no gap, newest first
    assert all(len(page) == size for page in pages[:-1])
    assert pages == _pages(_by_filter(trail), size=size, start={})


@pytest.mark.parametrize("size", [1, 4, 5, 23, 50])
def test_newer_pages_from_the_oldest_cover_it_once(trail, size):
    pages = _pages(_by_index(trail), size=size, start={"after": 0})
    walked = [sequence for page in reversed(pages) for sequence in page]
    assert walked == _about(trail)
    assert all(page == sorted(page, reverse=True) for page in pages)
    assert pages == _pages(_by_filter(trail), size=size, start={"after": 0})


def test_pages_start_at_any_sequence_even_one_not_about_the_extension(trail):
    about = _about(trail)
    others = sorted(set(AuditEvent.objects.values_list("sequence", flat=True)) - set(about))
    for cursor in [
        *({"before": s} for s in [*others, about[0], about[-1], 10**12]),
        *({"after": s} for s in [*others, about[0], about[-1], 0]),
    ]:
        by_index, by_filter = (
            _by_index(trail)(size=4, **cursor),
            _by_filter(trail)(size=4, **cursor),
        )
        assert by_index == by_filter, cursor


def test_past_either_end_a_page_is_empty(trail):
    about = _about(trail)
    assert _by_index(trail)(size=4, before=about[-1]).events == []
    assert _by_index(trail)(size=4, after=about[0]).events == []
    assert _by_index("9999")(size=4).events == []


def test_the_audit_page_with_only_an_extension_takes_the_index(trail, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    auditor = client_for("auditor")
    with CaptureQueriesContext(connection) as queries:
        response = auditor.get(reverse("aliases:audit_list"), {"extension": "EXT3001"})
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    # The page's ids come from the index alone, then the events by id: no semi-join.
    from_index = [sql for sql in reads if 'FROM "aliases_auditeventextension"' in sql]
    assert any(
        sql.startswith('SELECT "aliases_auditeventextension"."event_id"') for sql in from_index
    )
    assert all("LIMIT 51" in sql for sql in from_index)
    assert not [sql for sql in reads if "aliases_auditevent" in sql and "IN (SELECT" in sql]
    shown = [event.sequence for event in response.context["page"].events]
    assert shown == _about(trail)[1:]  # all but the look itself, recorded after the page


def _link(response, label: str) -> str:
    found = re.search(rf'href="\?([^"]*)"[^>]*>{label}<', response.content.decode())
    assert found, f"no {label} link"
    return "?" + found[1].replace("&amp;", "&")


def test_the_pager_reaches_the_oldest_events_directly(client_for, users):
    for number in range(120):
        audit.record(event_type=Type.EXTENSIONS_IMPORTED, extensions=["2001"], reason=str(number))
    auditor = client_for("auditor")
    url = reverse("aliases:extension_history", args=["2001"])
    newest = auditor.get(url)
    page = newest.content.decode()
    assert 'aria-label="Pages of events"' in page
    assert 'aria-current="page"' in page
    oldest = auditor.get(url + _link(newest, "Oldest"))
    reasons = [event.reason for event in oldest.context["page"].events]
    assert reasons == [str(number) for number in range(49, -1, -1)]
    text = oldest.content.decode()
    assert ">Older<" not in text and ">Oldest<" not in text
    assert 'rel="prev"' in text and ">Newest<" in text
    # Newer from the oldest page is the page just above it.
    above = auditor.get(url + _link(oldest, "Newer"))
    assert [event.reason for event in above.context["page"].events] == [
        str(number) for number in range(99, 49, -1)
    ]


# --- day filters in TIME_ZONE, across daylight saving -------------------------------------

# Berlin moves to summer time on 2026-03-29: that day has 23 hours (00:00 CET to 00:00 CEST).
AROUND_THE_CHANGE = {
    "before the day": datetime(2026, 3, 28, 22, 59, 59, 999999, tzinfo=UTC),  # 23:59:59 CET
    "first moment": datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # 00:00 CET on the 29th
    "last moment": datetime(2026, 3, 29, 21, 59, 59, 999999, tzinfo=UTC),  # 23:59:59 CEST
    "next day": datetime(2026, 3, 29, 22, 0, tzinfo=UTC),  # 00:00 CEST on the 30th
}


@pytest.fixture
def berlin(settings, users, time_machine):
    settings.TIME_ZONE = "Europe/Berlin"
    for reason, moment in AROUND_THE_CHANGE.items():
        time_machine.move_to(moment, tick=False)
        audit.record(event_type=Type.EXTENSIONS_IMPORTED, reason=reason)
    time_machine.move_to(datetime(2026, 4, 2, tzinfo=UTC), tick=False)


def _reasons(**filters) -> list[str]:
    events = selectors.audit_events_filtered(**filters).filter(event_type=Type.EXTENSIONS_IMPORTED)
    return [event.reason for event in events.order_by("sequence")]


def test_a_day_of_23_hours_is_midnight_to_midnight_in_the_zone(berlin):
    day = date(2026, 3, 29)
    assert _reasons(since=day, until=day) == ["first moment", "last moment"]
    assert _reasons(until=date(2026, 3, 28)) == ["before the day"]
    assert _reasons(since=date(2026, 3, 30)) == ["next day"]


def test_the_audit_page_filters_that_day_too(berlin, client_for):
    response = client_for("auditor").get(
        reverse("aliases:audit_list"),
        {"since": "2026-03-29", "until": "2026-03-29", "event_type": Type.EXTENSIONS_IMPORTED},
    )
    assert [event.reason for event in response.context["page"].events] == [
        "last moment",
        "first moment",
    ]
