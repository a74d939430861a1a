"""The drift page, its adopt button, and the inventory in the Django admin."""

import html
import re

import pytest
from django.urls import reverse

from aliases.audit import EventType
from aliases.models import Alias, AuditEvent

from .base import submit
from .drift_helpers import seed_every_kind
from .inventory_helpers import adopted_alias, text_of

pytestmark = pytest.mark.django_db

DRIFT = reverse("aliases:drift")
ADOPT = reverse("aliases:drift_adopt")
CHANGELIST = reverse("admin:aliases_alias_changelist")
ADMIN_ADOPT = reverse("admin:aliases_alias_adopt")


@pytest.fixture
def drifted(vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    return seed_every_kind(vicidial_db)


def checked(client, server: str = "default"):
    return client.get(DRIFT, {"server": server})


def fix_hrefs(response) -> list[str]:
    found = re.findall(r'<a class="[^"]*" href="([^"]+)" data-testid="drift-fix"', response.text)
    return [html.unescape(href) for href in found]


def drift_events():
    return AuditEvent.objects.filter(event_type=EventType.DRIFT_CHECKED)


# --- who may open it ---------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, drifted):
    for response in (checked(client), client.post(ADOPT, {"server": "default"})):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert not drift_events().exists()


@pytest.mark.parametrize("name", ["supervisor", "outsider"])
def test_supervisors_and_outsiders_get_403(client_for, drifted, name):
    client = client_for(name)

    assert checked(client).status_code == 403
    assert client.post(ADOPT, {"server": "default", "alias_id": "ghost"}).status_code == 403
    assert not drift_events().exists()
    assert not Alias.objects.filter(alias_id="ghost").exists()


def test_the_page_and_the_adopt_button_refuse_the_wrong_method(client_for, drifted):
    admin = client_for("admin")

    assert admin.post(DRIFT, {"server": "default"}).status_code == 405
    assert admin.get(ADOPT).status_code == 405


def test_the_navigation_links_to_it_for_those_who_may_check(client_for, drifted):
    assert f'href="{DRIFT}"' in client_for("auditor").get(reverse("aliases:home")).text
    assert f'href="{DRIFT}"' not in client_for("supervisor").get(reverse("aliases:home")).text


# --- the comparison ----------------------------------------------------------------------


def test_without_a_server_chosen_nothing_is_compared(client_for, drifted):
    response = client_for("auditor").get(DRIFT)

    assert response.status_code == 200
    assert 'data-testid="drift-report"' not in response.text
    assert not drift_events().exists()


def test_only_servers_with_a_database_can_be_chosen(client_for, drifted, settings):
    settings.VICIDIAL_SERVERS = {"west": {"API_URL": "http://127.0.0.1:9/", "API_PASS": "x"}}
    auditor = client_for("auditor")

    assert 'value="west"' not in auditor.get(DRIFT).text
    assert 'data-testid="drift-report"' not in checked(auditor, "west").text
    assert not drift_events().exists()


def test_no_server_with_a_database_says_what_to_set(client_for, settings):
    settings.VICIDIAL_DB_URL = ""

    response = client_for("auditor").get(DRIFT)

    assert 'data-testid="drift-no-database"' in response.text
    assert "VICIDIAL_DB_URL" in response.text


def test_an_auditor_sees_every_row_grouped_by_kind_and_the_check_is_recorded(
    client_for, users, drifted
):
    response = checked(client_for("auditor"))

    assert response.status_code == 200
    text = text_of(response)
    assert "Only in VICIdial: not in the inventory (2)" in text
    assert "Phone logins no phone has (4)" in text
    assert "Active here, missing from VICIdial (1)" in text
    assert re.search(r"checked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", text), text
    for kind in ("only_in_vicidial", "dead_logins", "name_differs", "logins_differ"):
        assert f'data-testid="drift-{kind}"' in response.text
    assert response.text.count('data-testid="drift-row"') == 11
    assert response.text.count('data-testid="dead-login"') >= 4
    [event] = drift_events()
    assert event.actor == users["auditor"] and event.outcome == "drift"


def test_an_auditor_sees_no_fix_button(client_for, drifted):
    response = checked(client_for("auditor"))

    assert 'data-testid="drift-fix"' not in response.text
    assert "An admin can: adopt into the inventory" in text_of(response)
    assert ADOPT not in response.text


def test_an_admin_gets_one_fix_per_row(client_for, drifted):
    response = checked(client_for("admin"))

    hrefs = fix_hrefs(response)
    change = reverse("aliases:alias_change", args=[drifted["dead_here"].pk])
    assert f"{change}?from_vicidial=1&alias_name=Dead+here&phone_logins=1001" in hrefs
    assert reverse("aliases:alias_enable", args=[drifted["missing"].pk]) in hrefs
    assert reverse("aliases:alias_disable", args=[drifted["disabled_one"].pk]) in hrefs
    # Two adopt buttons: only_there, and ghost's (both its rows).
    assert response.text.count(f'action="{ADOPT}"') == 3
    assert 'name="alias_id" value="ghost"' in response.text
    # The other rows' links: name_differs, 2 logins_differ, 2 more dead_logins.
    assert len(hrefs) == 8


def test_a_row_with_an_open_request_shows_it_instead_of_a_fix(client_for, users, drifted):
    pending = submit(users["supervisor"], alias_id="only_there", logins="1001,1002")

    response = checked(client_for("admin"))

    assert reverse("aliases:request_detail", args=[pending.pk]) in response.text
    assert 'name="alias_id" value="only_there"' not in response.text


def test_an_unreadable_database_is_shown_without_its_password(client_for, settings, unused_port):
    settings.VICIDIAL_DB_URL = f"mysql://ro:S3cret-pw@127.0.0.1:{unused_port}/asterisk"

    response = checked(client_for("auditor"))

    assert 'data-testid="drift-error"' in response.text
    assert "Cannot read" in response.text and "S3cret-pw" not in response.text


def test_in_step_says_so(client_for, vicidial_db, settings):
    settings.VICIDIAL_DB_URL = vicidial_db.url

    assert 'data-testid="drift-in-step"' in checked(client_for("auditor")).text


# --- the adopt button --------------------------------------------------------------------


def test_the_adopt_button_adopts_that_alias_only(client_for, users, drifted):
    admin = client_for("admin")

    response = admin.post(ADOPT, {"server": "default", "alias_id": "ghost"})

    assert response.status_code == 302
    assert response["Location"] == f"{DRIFT}?server=default"
    ghost = Alias.objects.get(alias_id="ghost")
    assert (ghost.origin, ghost.logins_in_order()) == ("adopted", ["1003", "9999"])
    assert not Alias.objects.filter(alias_id="only_there").exists()
    event = AuditEvent.objects.get(event_type=EventType.ALIASES_ADOPTED)
    assert event.actor == users["admin"] and event.changes["alias_ids"] == ["ghost"]
    # Compared again: ghost is listed now, and only its dead login is left to fix.
    again = admin.get(response["Location"])
    assert 'name="alias_id" value="ghost"' not in again.text
    change = reverse("aliases:alias_change", args=[ghost.pk])
    assert f"{change}?from_vicidial=1&alias_name=Ghost&phone_logins=1003" in fix_hrefs(again)


def test_the_adopt_button_says_what_happened(client_for, users, drifted):
    admin = client_for("admin")

    first = admin.post(ADOPT, {"server": "default", "alias_id": "ghost"}, follow=True)
    again = admin.post(ADOPT, {"server": "default", "alias_id": "ghost"}, follow=True)
    gone = admin.post(ADOPT, {"server": "default", "alias_id": "nosuch"}, follow=True)

    assert "Adopted ghost from default" in text_of(first)
    assert "ghost is already in the inventory; nothing was adopted." in text_of(again)
    assert "no longer holds nosuch; nothing was adopted." in text_of(gone)


def test_the_adopt_button_skips_an_alias_with_an_open_request(client_for, users, drifted):
    pending = submit(users["supervisor"], alias_id="only_there", logins="1001,1002")

    response = client_for("admin").post(
        ADOPT, {"server": "default", "alias_id": "only_there"}, follow=True
    )

    assert f"has open request #{pending.pk}; nothing was adopted" in text_of(response)
    assert not Alias.objects.filter(alias_id="only_there").exists()


def test_the_adopt_button_refuses_a_server_without_database(client_for, drifted, settings):
    settings.VICIDIAL_SERVERS = {"west": {"API_URL": "http://127.0.0.1:9/", "API_PASS": "x"}}

    response = client_for("admin").post(ADOPT, {"server": "west", "alias_id": "ghost"}, follow=True)

    assert "Nothing was adopted" in text_of(response)
    assert not Alias.objects.filter(alias_id="ghost").exists()


# --- the Django admin --------------------------------------------------------------------


def test_the_admin_lists_the_inventory_with_an_adopt_link(client_for):
    adopted_alias("sales", ["1001", "1002"], name="Sales desk")

    response = client_for("admin").get(CHANGELIST)

    assert response.status_code == 200
    text = text_of(response)
    assert "sales" in text and "Sales desk" in text and "Adopted from VICIdial" in text
    assert 'data-testid="adopt-link"' in response.text
    assert "1001" in text and "1002" in text


def test_an_auditor_sees_the_admin_list_without_the_adopt_link(client_for):
    adopted_alias("sales", ["1001"])

    response = client_for("auditor").get(CHANGELIST)

    assert response.status_code == 200
    assert 'data-testid="adopt-link"' not in response.text
    assert client_for("auditor").get(ADMIN_ADOPT).status_code == 403


def test_the_admin_search_matches_an_exact_login_or_alias_id(client_for):
    adopted_alias("sales", ["1001"])
    adopted_alias("support", ["10010"])
    admin = client_for("admin")

    by_login = text_of(admin.get(CHANGELIST, {"q": "1001"}))
    by_id = text_of(admin.get(CHANGELIST, {"q": "SUPPORT"}))

    assert "sales" in by_login and "support" not in by_login
    assert "support" in by_id and "sales" not in by_id


def test_the_admin_cannot_add_change_or_delete_aliases(client_for):
    alias = adopted_alias("sales", ["1001"])
    admin = client_for("admin")

    assert admin.get(reverse("admin:aliases_alias_add")).status_code == 403
    delete = reverse("admin:aliases_alias_delete", args=[alias.pk])
    assert admin.post(delete, {"post": "yes"}).status_code == 403
    page = admin.get(reverse("admin:aliases_alias_change", args=[alias.pk]))
    assert page.status_code == 200 and 'name="alias_name"' not in page.text
    assert Alias.objects.filter(pk=alias.pk).exists()


def test_the_admin_adopt_view_adopts_every_alias_the_inventory_lacks(client_for, users, drifted):
    admin = client_for("admin")

    assert admin.get(ADMIN_ADOPT).status_code == 200
    response = admin.post(ADMIN_ADOPT, {"server": "default"}, follow=True)

    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "2 adopted" in text_of(response)
    assert set(
        Alias.objects.filter(origin="adopted", alias_id__in=["ghost", "only_there"]).values_list(
            "alias_id", flat=True
        )
    ) == {"ghost", "only_there"}
    event = AuditEvent.objects.get(event_type=EventType.ALIASES_ADOPTED)
    assert event.actor == users["admin"]


def test_a_supervisor_never_reaches_the_admin(client_for):
    response = client_for("supervisor").get(ADMIN_ADOPT)

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(event_type=EventType.ALIASES_ADOPTED).exists()
