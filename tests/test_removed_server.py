"""A VICIdial server taken out of the settings while requests, aliases and phones of it remain:
every page about them still answers, and every action on them says why it cannot be done
instead of failing with a server error."""

import uuid

import pytest
from django.urls import reverse

from aliases import services
from aliases.errors import NoVicidialDatabase
from aliases.models import AliasRequest, Extension
from aliases.services.vicidial_reads import server_database
from aliases.simulator import Fault

from .inventory_helpers import adopted_alias, text_of

Status = AliasRequest.Status
NO_LONGER = "VICIdial server 'east' is no longer configured"


@pytest.fixture
def east_removed(users, simulator, settings):
    """Two requests on `east` (one whose outcome is unknown, one pending), an alias and a
    phone of it; then `east` leaves the settings."""
    settings.VICIDIAL_SERVERS = {
        "east": {
            "API_URL": simulator.url,
            "API_PASS": settings.VICIDIAL_API_PASS,
            "DB_URL": "mysql://portal_ro:Plain-Secret-77@127.0.0.1:3306/asterisk",
        }
    }

    def east_request(alias_id: str) -> AliasRequest:
        return services.alias_request_submit(
            requester=users["supervisor"],
            alias_id=alias_id,
            alias_name="East desk",
            phone_logins="1001",
            justification="East.",
            server="east",
        )

    simulator.state.inject(Fault(reset=True, process=True))
    unknown = services.alias_request_approve(
        request_id=east_request("east_desk").pk, actor=users["admin"]
    )
    assert unknown.status == Status.NEEDS_VERIFICATION
    pending = east_request("east_line")
    alias = adopted_alias("east_team", ["1001"], server="east")
    Extension.objects.create(server="east", login="1001", extension="1001", protocol="SIP")
    settings.VICIDIAL_SERVERS = {}
    return {"unknown": unknown, "pending": pending, "alias": alias}


def test_its_database_is_no_vicidial_database(east_removed):
    with pytest.raises(NoVicidialDatabase, match=NO_LONGER):
        server_database("east")


def test_the_verify_button_says_why(east_removed, client_for):
    unknown = east_removed["unknown"]
    response = client_for("admin2").post(
        reverse("aliases:request_verify_db", args=[unknown.pk]), follow=True
    )
    assert response.redirect_chain == [(reverse("aliases:request_detail", args=[unknown.pk]), 302)]
    assert NO_LONGER in text_of(response)
    unknown.refresh_from_db()
    assert unknown.status == Status.NEEDS_VERIFICATION


def test_the_reconcile_loop_passes_it_by(east_removed):
    assert services.alias_requests_verify_from_database() == []


@pytest.mark.parametrize("which", ["unknown", "pending"])
def test_the_request_pages_answer(east_removed, client_for, which):
    url = reverse("aliases:request_detail", args=[east_removed[which].pk])
    assert client_for("supervisor").get(url).status_code == 200
    page = client_for("admin2").get(url)
    assert page.status_code == 200
    if which == "pending":  # the approver's pre-flight check says what cannot be made
        assert "No VICIdial server is configured under the name 'east'" in text_of(page)


def test_approving_says_why(east_removed, client_for):
    pending = east_removed["pending"]
    response = client_for("admin2").post(
        reverse("aliases:request_approve", args=[pending.pk]), follow=True
    )
    assert response.status_code == 200
    assert "No VICIdial server is configured under the name 'east'" in text_of(response)


def test_the_extension_and_alias_pages_answer(east_removed, client_for):
    admin = client_for("admin2")
    extension = admin.get(reverse("aliases:extension_history", args=["1001"]))
    assert extension.status_code == 200
    assert "east" in text_of(extension)
    alias = east_removed["alias"]
    assert admin.get(reverse("aliases:alias_detail", args=[alias.pk])).status_code == 200


def test_a_change_from_vicidial_says_why(east_removed, client_for):
    alias = east_removed["alias"]
    response = client_for("supervisor").post(
        reverse("aliases:alias_change", args=[alias.pk]),
        {
            "alias_name": "East team",
            "phone_logins": "1001",
            "justification": "Drift fix.",
            "from_vicidial": "1",
            "submission_token": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 200
    assert NO_LONGER in text_of(response)
    assert not AliasRequest.objects.filter(alias_id="east_team").exists()


def test_the_drift_page_does_not_offer_it(east_removed, client_for):
    response = client_for("auditor").get(reverse("aliases:drift"), {"server": "east"})
    assert response.status_code == 200
    assert "Plain-Secret-77" not in response.content.decode()
