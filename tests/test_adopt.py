"""Adoption reads a real MariaDB shaped like VICIdial's database, through a SELECT-only
account, and lists what it holds in the inventory."""

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from aliases.audit import EventType
from aliases.errors import NoVicidialDatabase
from aliases.models import Alias, AuditEvent
from aliases.services import adopt as adopt_module
from aliases.services import aliases_adopt, drift_compare

from .base import submit
from .drift_helpers import seed_every_kind, vicidial_tables
from .inventory_helpers import adopted_alias

pytestmark = pytest.mark.django_db


@pytest.fixture
def vicidial(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    for login in ("1001", "1002", "cc100"):
        vicidial_db.add_phone(login)
    vicidial_db.add_alias("sales", "Sales", "1002,1001")
    vicidial_db.add_alias("doubled", "Doubled", "1001,cc100,1001,CC100")
    vicidial_db.add_alias("Listed", "Listed there", "1001")
    return vicidial_db


def test_every_alias_the_inventory_lacks_is_adopted_with_its_logins_in_order(vicidial):
    adopted_alias("listed", ["1002"], name="Listed here")

    report = aliases_adopt(server="default")

    assert report.adopted == ["doubled", "sales"]
    assert report.already_listed == ["Listed"]
    sales = Alias.objects.get(alias_id="sales")
    assert (sales.server, sales.alias_name, sales.state, sales.origin) == (
        "default",
        "Sales",
        "active",
        "adopted",
    )
    assert sales.logins_in_order() == ["1002", "1001"]
    assert sales.last_request is None
    # An alias already listed is left as the inventory has it.
    assert Alias.objects.get(alias_id="listed").alias_name == "Listed here"


def test_logins_listed_twice_are_kept_once_and_reported(vicidial):
    report = aliases_adopt(server="default")

    assert Alias.objects.get(alias_id="doubled").logins_in_order() == ["1001", "cc100"]
    assert report.duplicate_logins == {"doubled": ["1001", "CC100"]}
    assert report.counts["with_duplicate_logins"] == 1


def test_an_alias_with_an_open_request_is_skipped_and_reported(vicidial, users):
    pending = submit(users["supervisor"], alias_id="SALES", logins="1001")

    report = aliases_adopt(server="default")

    assert report.skipped_live_request == {"sales": pending.pk}
    assert not Alias.objects.filter(alias_id__iexact="sales").exists()


def test_one_event_records_the_run(vicidial, users):
    vicidial.remove_alias("Listed")
    report = aliases_adopt(server="default", actor=users["admin"])

    [event] = AuditEvent.objects.filter(event_type=EventType.ALIASES_ADOPTED)
    assert event.actor == users["admin"]
    assert event.outcome == "adopted"
    assert event.changes["server"] == "default"
    assert event.changes["alias_ids"] == ["doubled", "sales"]
    assert event.changes["adopted"] == 2 and event.changes["already_listed"] == 0
    assert event.changes["duplicate_logins"] == {"doubled": ["1001", "CC100"]}
    assert event.extensions == ["1001", "cc100", "1002"]
    assert event.changes["source"] == report.source
    assert vicidial.password not in f"{event.reason} {event.changes} {report.summary()}"


def test_a_run_that_adopts_nothing_is_recorded_too(vicidial):
    aliases_adopt(server="default")
    aliases_adopt(server="default")

    latest = AuditEvent.objects.filter(event_type=EventType.ALIASES_ADOPTED).first()
    assert latest.outcome == "nothing_adopted"
    assert latest.changes["already_listed"] == 3 and latest.changes["alias_ids"] == []


def test_the_listed_ids_and_logins_are_capped(vicidial, monkeypatch):
    monkeypatch.setattr(adopt_module, "AUDITED_ALIAS_IDS_CAP", 1)
    monkeypatch.setattr(adopt_module, "AUDITED_LOGINS_CAP", 2)
    vicidial.remove_alias("Listed")

    aliases_adopt(server="default")

    event = AuditEvent.objects.get(event_type=EventType.ALIASES_ADOPTED)
    assert event.changes["alias_ids"] == ["doubled"] and event.changes["alias_ids_listed"] == 1
    assert event.extensions == ["1001", "cc100"] and event.changes["extensions_listed"] == 2
    assert event.changes["adopted"] == 2


def test_only_adopts_the_aliases_asked_for(vicidial):
    report = aliases_adopt(server="default", only={"SALES", "nosuch"})

    assert report.adopted == ["sales"]
    assert report.not_in_vicidial == ["nosuch"]
    assert list(Alias.objects.values_list("alias_id", flat=True)) == ["sales"]


def test_nothing_is_written_to_vicidial_and_the_portal_may_only_read(vicidial, settings):
    before = vicidial_tables(vicidial)

    aliases_adopt(server="default")

    assert vicidial_tables(vicidial) == before
    # The account the portal is configured with holds nothing beyond SELECT.
    user = settings.VICIDIAL_DB_URL.split("//")[1].split(":")[0]
    grants = " ".join(row[0] for row in vicidial.execute(f"SHOW GRANTS FOR '{user}'@'%%'"))
    assert "SELECT ON" in grants
    for right in ("INSERT", "UPDATE", "DELETE", "ALL PRIVILEGES"):
        assert right not in grants


def test_after_adopting_drift_finds_nothing_only_in_vicidial(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    seed_every_kind(vicidial_db)

    aliases_adopt(server="default")

    kinds = {row.kind for row in drift_compare(server="default").rows}
    assert "only_in_vicidial" not in kinds and kinds


def test_a_supervisor_may_not_adopt(vicidial, users):
    with pytest.raises(PermissionDenied):
        aliases_adopt(server="default", actor=users["supervisor"])
    assert not Alias.objects.exists()


def test_a_server_without_database_url_is_refused_clearly(settings):
    settings.VICIDIAL_DB_URL = ""

    with pytest.raises(NoVicidialDatabase, match="VICIDIAL_DB_URL"):
        aliases_adopt(server="default")


def test_an_extra_server_is_read_from_its_own_database(vicidial, settings):
    settings.VICIDIAL_SERVERS = {"east": {"API_URL": "http://127.0.0.1:9/", "DB_URL": vicidial.url}}
    settings.VICIDIAL_DB_URL = ""

    report = aliases_adopt(server="east", only={"sales"})

    assert report.adopted == ["sales"]
    assert Alias.objects.get().server == "east"


# The command.


def test_the_command_prints_the_report(vicidial, users):
    submit(users["supervisor"], alias_id="sales", logins="1001")
    out, err = io.StringIO(), io.StringIO()

    call_command("adopt_aliases", "--server", "default", stdout=out, stderr=err)

    assert "2 adopted, 0 already in the inventory, 1 skipped for an open request" in out.getvalue()
    assert "Adopted: doubled, Listed" in out.getvalue()
    assert "sales has open request" in err.getvalue()
    assert "doubled lists 1001, CC100 more than once" in err.getvalue()
    event = AuditEvent.objects.get(event_type=EventType.ALIASES_ADOPTED)
    assert event.actor is None and event.user_agent == "manage.py adopt_aliases"


def test_the_command_refuses_an_unknown_server_and_one_without_database(settings):
    settings.VICIDIAL_DB_URL = ""
    with pytest.raises(CommandError, match="no database URL"):
        call_command("adopt_aliases")
    with pytest.raises(CommandError, match="nosuch"):
        call_command("adopt_aliases", "--server", "nosuch")
