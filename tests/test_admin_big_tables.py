"""The admin over big tables: a fixed number of queries per page, exact searches that find
what the indexes hold, date ranges in TIME_ZONE, and no DISTINCT over a whole table."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aliases import audit
from aliases.admin import CappedCountPaginator
from aliases.models import AliasRequest, AuditEvent, Extension, VicidialCall

from .base import submit

Type = AuditEvent.Type
BIG_TABLES = ["auditevent", "vicidialcall", "aliasrequest", "extension"]


def changelist(model: str) -> str:
    return reverse(f"admin:aliases_{model}_changelist")


def make_rows(users, count: int, start: int = 0) -> None:
    """`count` requests, each with a call, its audit events and an extension."""
    for number in range(start, start + count):
        login = f"7{number:03d}"
        alias_request = submit(users["supervisor"], alias_id=f"desk_{number}", logins=login)
        VicidialCall.objects.create(
            request=alias_request,
            initiated_by=users["admin"],
            function="add_phone_alias",
            method="POST",
            url="https://vicidial.example/non_agent_api.php",
            source=f"portal{alias_request.pk}",
        )
        Extension.objects.create(login=login, protocol="SIP")


def sql_of(client, url: str, params: dict | None = None) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("model", BIG_TABLES)
@pytest.mark.parametrize("params", [{}, {"q": "desk_1"}], ids=["list", "search"])
def test_a_changelist_makes_as_many_queries_for_six_rows_as_for_two(
    client_for, users, model, params
):
    admin = client_for("admin")
    make_rows(users, 2)
    with_two = len(sql_of(admin, changelist(model), params))
    make_rows(users, 4, start=2)
    with_six = len(sql_of(admin, changelist(model), params))
    # Session, user, permissions, the count, the page and a prefetch at most: no query per row.
    assert with_six == with_two <= 10


@pytest.mark.parametrize("model", BIG_TABLES)
def test_no_changelist_lists_distinct_values_or_dates(client_for, users, model):
    make_rows(users, 2)
    queries = sql_of(client_for("admin"), changelist(model), {"_facets": "True"})
    assert not [sql for sql in queries if "DISTINCT" in sql.upper()]
    # Per-choice counts (facets) over the whole table are switched off too.
    assert not [sql for sql in queries if "FILTER (WHERE" in sql.upper()]


def found(client, model: str, term: str) -> set[str]:
    response = client.get(changelist(model), {"q": term})
    return {str(row) for row in response.context["cl"].result_list}


def test_the_event_search_finds_an_extension_through_its_index_row_in_any_case(client_for):
    audit.record(event_type=Type.EXTENSIONS_IMPORTED, extensions=["Desk9"], reason="named")
    audit.record(event_type=Type.EXTENSIONS_IMPORTED, extensions=["Desk90"], reason="longer")
    auditor = client_for("auditor")
    named = str(AuditEvent.objects.get(reason="named"))
    assert found(auditor, "auditevent", "DESK9") == {named}
    assert found(auditor, "auditevent", " desk9 ") == {named}
    assert found(auditor, "auditevent", "Desk") == set()


def test_the_event_search_finds_by_alias_id_actor_and_correlation_id(client_for, users):
    alias_request = submit(users["supervisor"], alias_id="Front_Desk", logins="7001")
    created = AuditEvent.objects.get(request=alias_request)
    audit.record(event_type=Type.EXTENSIONS_IMPORTED, reason="unrelated")
    auditor = client_for("auditor")
    assert found(auditor, "auditevent", "front_desk") == {str(created)}
    assert found(auditor, "auditevent", "SUPERVISOR") == {str(created)}
    assert found(auditor, "auditevent", created.correlation_id.upper()) == {str(created)}


def test_requests_and_calls_are_found_by_phone_login_and_source(client_for, users):
    make_rows(users, 3)
    wanted = AliasRequest.objects.get(alias_id="desk_1")
    call = VicidialCall.objects.get(request=wanted)
    admin = client_for("admin")
    assert found(admin, "aliasrequest", "7001") == {str(wanted)}
    assert found(admin, "vicidialcall", "7001") == {str(call)}
    assert found(admin, "vicidialcall", f"PORTAL{wanted.pk}") == {str(call)}
    assert found(admin, "extension", "7001") == {"7001 (SIP)"}
    assert found(admin, "aliasrequest", "700") == set()


# --- date ranges in TIME_ZONE ---------------------------------------------------------------

# 23:59:59 on 9 March and midnight on 10 March in Paris (+01:00 then).
BEFORE_MIDNIGHT = datetime(2026, 3, 9, 22, 59, 59, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 9, 23, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def around_midnight_in_paris(settings, time_machine, users):
    settings.TIME_ZONE = "Europe/Paris"
    for moment, alias_id in ((BEFORE_MIDNIGHT, "before_midnight"), (MIDNIGHT, "at_midnight")):
        time_machine.move_to(moment, tick=False)
        submit(users["supervisor"], alias_id=alias_id, logins="7001")
    time_machine.move_to(NOW, tick=False)


def choice_link(client, model: str, field: str, title: str) -> str:
    """The filter link a person would click, as the sidebar offers it."""
    cl = client.get(changelist(model)).context["cl"]
    spec = next(s for s in cl.filter_specs if getattr(s, "field_path", "") == field)
    choice = next(c for c in spec.choices(cl) if c["display"] == title)
    return changelist(model) + choice["query_string"]


def rows_for_choice(client, model: str, field: str, title: str) -> set[str]:
    listed = client.get(choice_link(client, model, field, title)).context["cl"].result_list
    if model == "aliasrequest":
        return {row.alias_id for row in listed}
    # The events of the requests only: logging in for the test writes its own.
    return {row.request.alias_id for row in listed if row.request}


@pytest.mark.parametrize(
    ("model", "field"), [("aliasrequest", "created_at"), ("auditevent", "occurred_at")]
)
def test_today_starts_at_midnight_in_the_time_zone(
    client_for, around_midnight_in_paris, model, field
):
    admin = client_for("admin")
    assert rows_for_choice(admin, model, field, "Today") == {"at_midnight"}
    assert rows_for_choice(admin, model, field, "Past 7 days") == {
        "at_midnight",
        "before_midnight",
    }


def test_the_past_30_days_start_at_a_midnight_across_daylight_saving(
    client_for, around_midnight_in_paris, time_machine
):
    # On 9 April (+02:00 since 29 March) the 30 days start on 10 March at 00:00 +01:00, not
    # 30 times 24 hours earlier, which would be 23:00 on the 9th.
    time_machine.move_to(datetime(2026, 4, 9, 9, 0, tzinfo=UTC), tick=False)
    admin = client_for("admin")
    assert rows_for_choice(admin, "aliasrequest", "created_at", "Past 30 days") == {"at_midnight"}


def test_the_date_filters_are_ranges_on_the_column(client_for, around_midnight_in_paris):
    admin = client_for("admin")
    queries = sql_of(admin, choice_link(admin, "auditevent", "occurred_at", "Today"))
    page = next(sql for sql in queries if "aliases_auditevent" in sql and "LIMIT" in sql.upper())
    assert '"occurred_at" >= ' in page and '"occurred_at" < ' in page
    assert "AT TIME ZONE" not in page.upper() and "cast_date" not in page


# --- fixed choices instead of DISTINCT ----------------------------------------------------


def test_the_outcome_filter_offers_the_codes_the_services_write(client_for, users):
    submit(users["supervisor"], alias_id="pending_one", logins="7001")
    audit.record(event_type=Type.CIRCUIT_OPENED, outcome="open", reason="stopped")
    admin = client_for("admin")
    response = admin.get(changelist("auditevent"), {"outcome": "open"})
    assert [event.reason for event in response.context["cl"].result_list] == ["stopped"]
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "outcome")
    offered = dict(spec.lookup_choices)
    assert offered["open"] == "Calls stopped" and offered["pending"] == "Pending approval"


def test_the_function_filter_offers_the_vicidial_functions(client_for, users):
    make_rows(users, 1)
    admin = client_for("admin")
    response = admin.get(changelist("vicidialcall"), {"function": "update_phone_alias"})
    assert list(response.context["cl"].result_list) == []
    response = admin.get(changelist("vicidialcall"), {"function": "add_phone_alias"})
    assert len(response.context["cl"].result_list) == 1


def test_the_count_stops_one_past_the_cap(client_for, users, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 2)
    make_rows(users, 4)
    response = client_for("admin").get(changelist("extension"))
    assert response.context["cl"].result_count == 3


def test_a_searched_changelist_counts_what_it_found_not_the_whole_table(client_for):
    from aliases.models import Alias

    Alias.objects.create(alias_id="Front", alias_name="Front desk")
    Alias.objects.create(alias_id="Back", alias_name="Back desk")
    queries = sql_of(client_for("admin"), changelist("alias"), {"q": "front"})
    counts = [sql for sql in queries if "COUNT(" in sql.upper()]
    # One count, of the rows the search found: none of the whole inventory beside it.
    assert len(counts) == 1
    assert "WHERE" in counts[0].upper()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array form is PostgreSQL's")
def test_a_search_filters_on_its_ids_as_rows_not_an_array_to_scan(client_for):
    from aliases.models import Alias

    Alias.objects.create(alias_id="Front", alias_name="Front desk")
    queries = sql_of(client_for("admin"), changelist("alias"), {"q": "front"})
    (page,) = [sql for sql in queries if 'FROM "aliases_alias" ' in sql and "ORDER BY" in sql]
    # PostgreSQL then fetches the found ids by key, instead of walking the list's order
    # index until a page of them turns up.
    assert "IN (SELECT unnest(" in page
