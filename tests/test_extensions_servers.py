"""A catalogue per VICIdial server: the same login on two servers is two rows, and an import or
a sync of one server's catalogue never touches another's."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aliases import selectors
from aliases.audit import EventType, verify_chain
from aliases.models import AuditEvent, Extension
from aliases.services.extensions import extensions_import_csv, extensions_sync_from_vicidial

EAST = {"API_URL": "http://127.0.0.1:9/vicidial/non_agent_api.php", "API_PASS": "east-pw"}


@pytest.fixture
def east(settings, vicidial_db):
    """A second server, `east`, whose phones are in `vicidial_db`."""
    settings.VICIDIAL_SERVERS = {
        "east": {**EAST, "DB_URL": vicidial_db.url, "LABEL": "East cluster"}
    }
    return vicidial_db


def rows() -> set[tuple[str, str, str, bool]]:
    return {
        (row.server, row.login, row.protocol, row.known_to_vicidial)
        for row in Extension.objects.all()
    }


def import_csv(text: str, **kwargs):
    return extensions_import_csv(stream=io.StringIO(text, newline=""), **kwargs)


def test_the_same_login_on_two_servers_is_two_catalogue_rows(db, east):
    import_csv("login,protocol,known_to_vicidial\ncc100,SIP,yes\n")
    east.add_phone("CC100", protocol="IAX2")

    call_command("sync_extensions", "--server", "east", stdout=io.StringIO())

    assert rows() == {("default", "cc100", "SIP", True), ("east", "CC100", "IAX2", True)}


def test_a_sync_of_one_server_never_touches_another(db, east):
    import_csv("login,protocol,description,known_to_vicidial\ncc100,SIP,Front desk,yes\n")
    import_csv("login,protocol\n1001,SIP\n")
    default_before = list(Extension.objects.filter(server="default").values())
    east.add_phone("cc100")
    east.add_phone("2001", protocol="IAX2")
    extensions_sync_from_vicidial(server="east")

    east.remove_phone("cc100")
    report = extensions_sync_from_vicidial(server="east")

    assert (report.server, report.unchanged, report.marked_unknown) == ("east", 1, 1)
    assert list(Extension.objects.filter(server="default").values()) == default_before
    assert rows() == {
        ("default", "cc100", "SIP", True),
        ("default", "1001", "SIP", False),
        ("east", "cc100", "SIP", False),
        ("east", "2001", "IAX2", True),
    }
    assert Extension.objects.get(server="east", login="cc100").description == ""


def test_the_sync_event_says_which_server(db, east):
    east.add_phone("cc100")
    out = io.StringIO()

    call_command("sync_extensions", "--server", "east", stdout=out)

    event = AuditEvent.objects.get(event_type=EventType.EXTENSIONS_SYNCED)
    assert event.changes["server"] == "east"
    assert event.reason.startswith("VICIdial sync of East cluster (east) from mysql://portal_ro_")
    assert "Synced the catalogue of East cluster from mysql://portal_ro_" in out.getvalue()
    assert east.password not in out.getvalue() + event.reason
    assert verify_chain().ok


def test_a_csv_import_goes_into_the_chosen_servers_catalogue(db, east, tmp_path: Path):
    path = tmp_path / "east.csv"
    path.write_text("login,protocol\ncc100,SIP\n2001,IAX2\n")
    out = io.StringIO()

    call_command("import_extensions", str(path), "--server", "east", stdout=out)
    call_command("import_extensions", str(path), "--server", "east", stdout=io.StringIO())

    assert rows() == {("east", "cc100", "SIP", False), ("east", "2001", "IAX2", False)}
    assert out.getvalue().startswith("Catalogue of East cluster: 2 row(s) read: 2 created")
    event = AuditEvent.objects.get(event_type=EventType.EXTENSIONS_IMPORTED)
    assert (event.changes["server"], event.extensions) == ("east", ["cc100", "2001"])
    assert "into the catalogue of East cluster (east)" in event.reason


def test_the_server_db_url_comes_from_the_registry_unless_one_is_given(db, settings, east):
    east.add_phone("cc100")
    settings.VICIDIAL_SERVERS = {"east": EAST}  # no DB_URL for east now
    settings.VICIDIAL_DB_URL = east.url  # default's: never used for east

    with pytest.raises(CommandError, match="set VICIDIAL_EAST_DB_URL or pass --db-url"):
        call_command("sync_extensions", "--server", "east", stdout=io.StringIO())
    assert not Extension.objects.exists()

    call_command("sync_extensions", "--server", "east", "--db-url", east.url, stdout=io.StringIO())
    assert rows() == {("east", "cc100", "SIP", True)}


@pytest.mark.parametrize("command", ["import_extensions", "sync_extensions"])
def test_an_unknown_server_is_refused(db, tmp_path: Path, command):
    path = tmp_path / "phones.csv"
    path.write_text("login,protocol\ncc100,SIP\n")
    arguments = [str(path)] if command == "import_extensions" else ["--db-url", "mysql://u@h/db"]

    with pytest.raises(
        CommandError, match="No VICIdial server is configured under the name 'west'"
    ):
        call_command(command, *arguments, "--server", "west", stdout=io.StringIO())

    assert not Extension.objects.exists() and not AuditEvent.objects.exists()


def test_the_request_forms_catalogue_keeps_every_server_and_can_show_one(db, east):
    import_csv("login,protocol\ncc100,SIP\n1001,SIP\n")
    import_csv("login,protocol\ncc100,IAX2\n", server="east")

    every = [(row.login, row.server) for row in selectors.extension_catalogue()]
    only_east = [(row.login, row.server) for row in selectors.extension_catalogue(server="east")]

    assert every == [("1001", "default"), ("cc100", "default"), ("cc100", "east")]
    assert only_east == [("cc100", "east")]


def test_the_request_form_names_each_catalogue_rows_server(db, east, client_for):
    import_csv("login,protocol\ncc100,SIP\n", server="east")

    page = client_for("supervisor").get("/requests/new/")

    assert "<th>Server</th>" in page.content.decode()
    assert "<td>East cluster</td>" in page.content.decode()
