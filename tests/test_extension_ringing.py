"""The extension page's "Aliases ringing it now": the inventory of every server, and what each
server's own database (real MariaDB, read-only account) says, drift marked."""

import pytest
from django.urls import reverse

from aliases.models import Alias

from .inventory_helpers import adopted_alias, text_of


def ringing_section(response) -> str:
    return text_of(response).split("Aliases ringing it now", 1)[1].split("Everything that", 1)[0]


@pytest.fixture
def auditor(client_for):
    return client_for("auditor")


def extension_page(client, login: str = "1001"):
    response = client.get(reverse("aliases:extension_history", args=[login]))
    assert response.status_code == 200
    return response


def test_the_inventory_part_lists_active_aliases_of_every_server(auditor, settings):
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": "http://127.0.0.1:9/x", "API_PASS": "p", "LABEL": "East office"}
    }
    here = adopted_alias("here_desk", ["1002", "1001"])
    east = adopted_alias("east_desk", ["1001"], server="east")
    adopted_alias("off_desk", ["1001"], state=Alias.State.DISABLED)
    adopted_alias("prefix_desk", ["10010"])
    adopted_alias("upper_desk", ["CC100"])
    response = extension_page(auditor)
    assert {alias.pk for alias in response.context["ringing"]} == {here.pk, east.pk}
    section = ringing_section(response)
    assert "East office" in section
    assert f'href="{reverse("aliases:alias_detail", args=[east.pk])}"' in (
        response.content.decode()
    )
    assert [a.alias_id for a in extension_page(auditor, "cc100").context["ringing"]] == [
        "upper_desk"
    ]


def test_without_a_database_url_only_the_inventory_is_shown(auditor, settings):
    settings.VICIDIAL_DB_URL = ""
    response = extension_page(auditor)
    assert response.context["vicidial_ringing"] == []
    assert "No VICIdial database is configured" in ringing_section(response)


def test_vicidials_aliases_are_read_and_those_the_inventory_lacks_are_marked(
    auditor, settings, vicidial_db
):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    adopted_alias("sales_desk", ["1001", "1002"])
    adopted_alias("moved_desk", ["1003"])
    vicidial_db.add_alias("sales_desk", "Sales desk", "1001,1002")
    vicidial_db.add_alias("ghost_desk", "Made by hand", "cc100,1001")
    vicidial_db.add_alias("moved_desk", "Moved", "1003,1001")
    vicidial_db.add_alias("prefix_desk", "Prefix", "10010,21001")
    response = extension_page(auditor)
    (server,) = response.context["vicidial_ringing"]
    found = {each.row.alias_id: each for each in server.aliases}
    assert set(found) == {"sales_desk", "ghost_desk", "moved_desk"}
    assert found["sales_desk"].inventory_agrees
    assert found["ghost_desk"].listed is None
    assert found["moved_desk"].listed is not None and not found["moved_desk"].inventory_agrees
    content = response.content.decode()
    assert content.count('data-testid="not-in-inventory"') == 1
    assert content.count('data-testid="inventory-differs"') == 1
    section = ringing_section(response)
    assert "ghost_desk Made by hand default cc100,1001 Not in the inventory" in section


def test_vicidials_logins_match_in_any_letter_case(auditor, settings, vicidial_db):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    vicidial_db.add_alias("upper_desk", "Upper", "CC100")
    response = extension_page(auditor, "cc100")
    (server,) = response.context["vicidial_ringing"]
    assert [each.row.alias_id for each in server.aliases] == ["upper_desk"]


def test_a_database_that_cannot_be_read_is_a_note_without_its_password(
    auditor, settings, unused_port
):
    password = "Sekr1t-db-pass"
    settings.VICIDIAL_DB_URL = f"mysql://portal_ro:{password}@127.0.0.1:{unused_port}/asterisk"
    adopted_alias("sales_desk", ["1001"])
    response = extension_page(auditor)
    section = ringing_section(response)
    assert "VICIdial server default could not be read, so only the inventory is shown" in section
    assert "Cannot read phones_alias from mysql://portal_ro@127.0.0.1" in section
    assert "sales_desk" in section
    assert password not in response.content.decode()


def test_a_denied_read_is_a_note_too(auditor, settings, vicidial_db):
    wrong = vicidial_db.url.replace(vicidial_db.password, "Not-the-password")
    settings.VICIDIAL_DB_URL = wrong
    response = extension_page(auditor)
    assert "could not be read" in ringing_section(response)
    assert "Not-the-password" not in response.content.decode()


def test_a_login_with_like_wildcards_matches_only_itself(vicidial_db):
    from aliases.vicidial_db import VicidialDatabase, fetch_aliases_ringing

    vicidial_db.add_alias("under", "Under", "a_b,cc100")
    vicidial_db.add_alias("wild", "Wild", "axb,CC1000")
    target = VicidialDatabase.from_url(vicidial_db.url)
    assert [row.alias_id for row in fetch_aliases_ringing(target, "a_b")] == ["under"]
    assert [row.alias_id for row in fetch_aliases_ringing(target, "CC100")] == ["under"]
    assert fetch_aliases_ringing(target, "%") == []
