"""Drift: the inventory compared with a real MariaDB shaped like VICIdial's database."""

import csv
import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.urls import reverse

from aliases.audit import EventType
from aliases.errors import NoVicidialDatabase
from aliases.models import AuditEvent
from aliases.services import drift_check, drift_compare
from aliases.services.drift import DriftKind, FixKind

from .base import submit
from .drift_helpers import EXPECTED_ROWS, seed_every_kind, vicidial_tables
from .inventory_helpers import adopted_alias

pytestmark = pytest.mark.django_db


@pytest.fixture
def drifted(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    return seed_every_kind(vicidial_db)


def rows_of(report, alias_id: str) -> dict[str, object]:
    return {row.kind: row for row in report.rows if row.alias_id == alias_id}


def test_every_kind_of_difference_is_found_and_nothing_else(drifted):
    report = drift_compare(server="default")

    assert {(row.kind, row.alias_id) for row in report.rows} == EXPECTED_ROWS
    assert report.counts == {
        "only_in_vicidial": 2,
        "missing_in_vicidial": 1,
        "disabled_but_present": 1,
        "name_differs": 1,
        "logins_differ": 2,
        "dead_logins": 4,
    }
    # Every alias ID of either side, once: Case_Logins and case_logins are one alias.
    assert report.compared == 12


def test_logins_compare_as_vicidial_does_without_case_or_order(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    for login in ("cc100", "bb100"):
        vicidial_db.add_phone(login)
    vicidial_db.add_alias("Desk", "Desk", "CC100,bb100")
    alias = adopted_alias("desk", ["BB100", "cc100"], name="Desk")
    assert drift_compare(server="default").rows == []

    alias.logins.filter(login="BB100").delete()
    [row] = drift_compare(server="default").rows
    assert (row.kind, row.inventory_logins, row.vicidial_logins) == (
        DriftKind.LOGINS_DIFFER,
        ["cc100"],
        ["CC100", "bb100"],
    )


def test_dead_logins_are_found_here_and_there(drifted):
    report = drift_compare(server="default")

    assert rows_of(report, "dead_here")["dead_logins"].dead_logins == ["9999"]
    # 8888 only in VICIdial's list, 9999 only in VICIdial's (the alias is not listed here).
    assert rows_of(report, "mixed")["dead_logins"].dead_logins == ["8888"]
    assert rows_of(report, "ghost")["dead_logins"].dead_logins == ["9999"]
    marked = rows_of(report, "dead_here")["dead_logins"].inventory_logins_marked
    assert marked == [("1001", False), ("9999", True)]


def test_a_phone_removed_from_vicidial_makes_its_logins_dead(drifted, vicidial_db):
    vicidial_db.remove_phone("1002")

    report = drift_compare(server="default")

    assert rows_of(report, "in_step")["dead_logins"].dead_logins == ["1002"]


def test_each_row_has_the_fix_that_brings_them_back_in_step(drifted):
    report = drift_compare(server="default")
    fix = {(row.kind, row.alias_id): row.fix for row in report.rows}

    assert fix["only_in_vicidial", "only_there"].kind == FixKind.ADOPT
    assert fix["only_in_vicidial", "only_there"].url == reverse("aliases:drift_adopt")
    assert fix["dead_logins", "ghost"].kind == FixKind.ADOPT
    assert fix["missing_in_vicidial", "missing"].url == reverse(
        "aliases:alias_enable", args=[drifted["missing"].pk]
    )
    assert fix["disabled_but_present", "disabled_one"].url == reverse(
        "aliases:alias_disable", args=[drifted["disabled_one"].pk]
    )
    # Nothing is left to change to when every login is dead: it is disabled instead.
    assert fix["dead_logins", "all_dead"].url == reverse(
        "aliases:alias_disable", args=[drifted["all_dead"].pk]
    )
    assert fix["name_differs", "renamed"].label == "Ask to change it in VICIdial"


def change_query(fix) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(fix.url)
    return parts.path, parse_qs(parts.query)


@pytest.mark.parametrize(
    ("kind", "alias_id", "name", "logins"),
    [
        ("name_differs", "renamed", "New name", "1002, 1001"),
        ("logins_differ", "moved", "Moved", "1001, 1002"),
        # Without the login no phone has: VICIdial would refuse it (PHONE DOES NOT EXIST).
        ("dead_logins", "dead_here", "Dead here", "1001"),
        ("logins_differ", "mixed", "Mixed", "1001, 1004"),
    ],
)
def test_a_change_fix_is_prefilled_with_the_inventorys_values(
    drifted, kind, alias_id, name, logins
):
    row = rows_of(drift_compare(server="default"), alias_id)[kind]
    path, query = change_query(row.fix)

    assert path == reverse("aliases:alias_change", args=[drifted[alias_id].pk])
    assert query == {"from_vicidial": ["1"], "alias_name": [name], "phone_logins": [logins]}


def test_the_missing_aliass_dead_logins_have_no_fix_but_a_hint(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    vicidial_db.add_phone("1001")
    adopted_alias("lost", ["1001", "9999"], name="Lost")

    rows = rows_of(drift_compare(server="default"), "lost")

    assert rows["missing_in_vicidial"].fix.kind == FixKind.ENABLE
    assert rows["dead_logins"].fix is None
    assert "add the phone in VICIdial first" in rows["dead_logins"].hint


def test_an_open_request_is_shown_on_its_row(drifted, users):
    pending = submit(users["supervisor"], alias_id="only_there", logins="1001,1002")

    row = rows_of(drift_compare(server="default"), "only_there")["only_in_vicidial"]

    assert row.live_request == pending


def test_a_check_is_recorded_with_the_counts_and_alias_ids(drifted, users, vicidial_db):
    report = drift_check(server="default", actor=users["auditor"])

    event = AuditEvent.objects.get(event_type=EventType.DRIFT_CHECKED)
    assert event.actor == users["auditor"]
    assert event.outcome == "drift"
    assert event.changes["counts"] == report.counts
    assert event.changes["alias_ids"]["only_in_vicidial"] == ["ghost", "only_there"]
    assert event.changes["alias_ids"]["dead_logins"] == ["all_dead", "dead_here", "ghost", "mixed"]
    assert sorted(event.extensions) == ["8888", "9999"]
    assert vicidial_db.password not in f"{event.reason} {event.changes}"
    assert event.changes["source"] == str(report.source) and "@127.0.0.1" in report.source


def test_a_check_in_step_says_so(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url

    report = drift_check(server="default")

    event = AuditEvent.objects.get(event_type=EventType.DRIFT_CHECKED)
    assert report.in_step and event.outcome == "in_step"
    assert "agree" in report.summary()


def test_a_supervisor_may_not_check(drifted, users):
    with pytest.raises(PermissionDenied):
        drift_check(server="default", actor=users["supervisor"])
    assert not AuditEvent.objects.filter(event_type=EventType.DRIFT_CHECKED).exists()


def test_a_server_without_database_url_is_refused_clearly(settings):
    settings.VICIDIAL_DB_URL = ""

    with pytest.raises(NoVicidialDatabase, match="Set VICIDIAL_DB_URL"):
        drift_compare(server="default")


def test_comparing_writes_nothing_to_vicidial(drifted, vicidial_db):
    before = vicidial_tables(vicidial_db)

    drift_check(server="default")

    assert vicidial_tables(vicidial_db) == before


# The command.


def test_the_command_prints_the_counts_and_exits_normally_with_drift(drifted):
    out = io.StringIO()

    call_command("reconcile_aliases", stdout=out)

    text = out.getvalue()
    assert "11 differences" in text
    assert "  only_in_vicidial: 2" in text and "  dead_logins: 4" in text
    assert AuditEvent.objects.filter(event_type=EventType.DRIFT_CHECKED).count() == 1


def test_the_command_writes_one_csv_row_per_difference(drifted, tmp_path):
    target = tmp_path / "drift.csv"

    call_command(
        "reconcile_aliases", "--server", "default", "--csv", str(target), stdout=io.StringIO()
    )

    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert {(row["kind"], row["alias_id"]) for row in rows} == EXPECTED_ROWS
    mixed = next(
        row for row in rows if (row["kind"], row["alias_id"]) == ("logins_differ", "mixed")
    )
    assert mixed == {
        "server": "default",
        "kind": "logins_differ",
        "kind_label": "Phone logins differ",
        "alias_id": "mixed",
        "inventory_state": "active",
        "inventory_name": "Mixed",
        "inventory_logins": "1001,1004",
        "vicidial_name": "Mixed",
        "vicidial_logins": "1001,8888",
        "dead_logins": "",
        "fix": "change",
        "open_request": "",
    }


def test_a_csv_cell_that_a_spreadsheet_would_run_is_quoted(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    vicidial_db.add_phone("1001")
    vicidial_db.add_alias("formula", "@SUM(A1)", "1001")
    out, err = io.StringIO(), io.StringIO()

    call_command("reconcile_aliases", "--csv", "-", stdout=out, stderr=err)

    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["vicidial_name"] == "'@SUM(A1)"
    assert "only_in_vicidial: 1" in err.getvalue()


def test_without_server_every_server_with_a_database_is_compared(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = ""
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": "http://127.0.0.1:9/", "API_PASS": "x", "DB_URL": vicidial_db.url},
        "west": {"API_URL": "http://127.0.0.1:9/", "API_PASS": "x"},
    }
    out = io.StringIO()

    call_command("reconcile_aliases", stdout=out)

    [event] = AuditEvent.objects.filter(event_type=EventType.DRIFT_CHECKED)
    assert event.changes["server"] == "east"
    assert out.getvalue().startswith("east: the inventory and VICIdial agree")


def test_the_command_refuses_a_server_without_database(settings):
    settings.VICIDIAL_DB_URL = ""
    with pytest.raises(CommandError, match="no database URL"):
        call_command("reconcile_aliases", "--server", "default")
    with pytest.raises(CommandError, match="No VICIdial server has a database URL"):
        call_command("reconcile_aliases")


def test_the_command_reports_an_unreadable_database_without_its_password(settings, unused_port):
    settings.VICIDIAL_DB_URL = f"mysql://ro:S3cret-pw@127.0.0.1:{unused_port}/asterisk"

    with pytest.raises(CommandError) as caught:
        call_command("reconcile_aliases", "--server", "default")

    assert "Cannot read" in str(caught.value) and "S3cret-pw" not in str(caught.value)
