"""What the approver sees on a request's page: the kind and the server, the before and after of
a change or a disable, the way to the alias, and the questions and buttons each kind asks."""

import re

import pytest
from django.urls import reverse

from aliases import services
from aliases.forms import SettleForm
from aliases.models import AliasRequest
from aliases.simulator import Fault

from .base import submit
from .inventory_helpers import created_alias, disabled_alias, text_of

Kind = AliasRequest.Kind


def page_of(client, alias_request):
    return client.get(reverse("aliases:request_detail", args=[alias_request.pk]))


def change_request(users, **values) -> AliasRequest:
    alias = created_alias(users, logins="1001,1002")
    return services.alias_change_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Moved.", **values
    )


def disable_request(users) -> AliasRequest:
    alias = created_alias(users)
    return services.alias_disable_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Gone."
    )


def enable_request(users) -> AliasRequest:
    alias = disabled_alias(users)
    return services.alias_enable_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Back."
    )


def test_the_kind_and_the_server_lead_the_page(users, client_for, settings):
    settings.VICIDIAL_SERVER_LABEL = "Head office"
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": "http://127.0.0.1:9/x", "API_PASS": "x", "LABEL": "East coast"}
    }
    here = submit(users["supervisor"])
    east = services.alias_request_submit(
        requester=users["supervisor"],
        alias_id="sales_desk",
        alias_name="Sales desk",
        phone_logins="1001",
        justification="East too.",
        server="east",
    )
    admin = client_for("admin")
    assert "Add on VICIdial server Head office" in text_of(page_of(admin, here))
    assert "Add on VICIdial server East coast" in text_of(page_of(admin, east))


@pytest.mark.parametrize(
    "make, kind_line, approve",
    [
        (lambda users: submit(users["supervisor"]), "Add on", "Approve and create in VICIdial"),
        (
            lambda users: change_request(users, alias_name="Floor", phone_logins="1001"),
            "Change on",
            "Approve and change in VICIdial",
        ),
        (disable_request, "Disable on", "Approve and remove from VICIdial"),
        (enable_request, "Enable on", "Approve and create in VICIdial again"),
    ],
)
def test_each_kind_says_what_approving_does(users, client_for, simulator, make, kind_line, approve):
    response = page_of(client_for("admin2"), make(users))
    assert f"{kind_line} VICIdial server default" in text_of(response)
    assert f">{approve}</button>" in response.content.decode()


def test_a_change_shows_before_and_after(users, client_for, simulator):
    change = change_request(users, alias_name="Sales floor", phone_logins="1002,1003")
    response = page_of(client_for("admin2"), change)
    html = response.content.decode()
    diff = text_of(response).split("What changes in VICIdial")[1]
    assert diff.startswith(
        " Before After Alias name Sales desk Sales floor changed "
        "Phones it rings 1001 (removed) , 1002 1002 , 1003 (added)"
    )
    assert '<code class="text-decoration-line-through">1001</code>' in html
    assert '<code class="fw-bold">1003</code>' in html


def test_a_change_of_logins_only_keeps_the_name(users, client_for, simulator):
    change = change_request(users, alias_name="Sales desk", phone_logins="1002,1001,1003")
    diff = text_of(page_of(client_for("admin2"), change)).split("What changes in VICIdial")[1]
    assert "Alias name Sales desk Sales desk (unchanged)" in diff
    assert "1001 , 1002 1002 , 1001 , 1003 (added)" in diff


def test_the_diff_ignores_letter_case_as_vicidial_does(users, client_for, simulator):
    alias = created_alias(users, logins="cc100,bb100")
    change = services.alias_change_submit(
        requester=users["supervisor"],
        alias_pk=alias.pk,
        alias_name="Sales desk",
        phone_logins="BB100,1001",
        justification="Moved.",
    )
    diff = text_of(page_of(client_for("admin2"), change)).split("What changes in VICIdial")[1]
    assert "Phones it rings cc100 (removed) , bb100 BB100 , 1001 (added)" in diff


def test_a_disable_shows_the_alias_removed_from_vicidial(users, client_for, simulator):
    diff = text_of(page_of(client_for("admin2"), disable_request(users)))
    diff = diff.split("What changes in VICIdial")[1]
    assert diff.startswith(
        " Before After Alias name Sales desk removed from VICIdial "
        "Phones it rings 1001 (removed) , 1002 (removed) removed from VICIdial"
    )


def test_an_add_has_no_diff_and_no_alias_yet(users, client_for):
    page = text_of(page_of(client_for("admin"), submit(users["supervisor"])))
    assert "What changes in VICIdial" not in page
    assert "Open the alias in the inventory" not in page


def test_the_page_links_to_the_alias_for_those_who_may_see_it(users, client_for, simulator):
    change = change_request(users, alias_name="Floor", phone_logins="1001")
    link = reverse("aliases:alias_detail", args=[change.alias_record_id])
    assert f'href="{link}">Open the alias in the inventory' in (
        page_of(client_for("admin"), change).content.decode()
    )
    assert f'href="{link}"' in page_of(client_for("supervisor"), change).content.decode()


@pytest.mark.parametrize(
    "kind, question, done, not_done",
    [
        (
            Kind.ADD,
            "Is the alias in VICIdial with these values?",
            "Yes: VICIdial holds it with these values (done)",
            "No: VICIdial does not hold it like this (not done)",
        ),
        (
            Kind.CHANGE,
            "Is the alias in VICIdial with these values?",
            "Yes: VICIdial holds it with these values (done)",
            "No: VICIdial does not hold it like this (not done)",
        ),
        (
            Kind.ENABLE,
            "Is the alias in VICIdial with these values?",
            "Yes: VICIdial holds it with these values (done)",
            "No: VICIdial does not hold it like this (not done)",
        ),
        (
            Kind.DISABLE,
            "Is the alias gone from VICIdial?",
            "Yes: it is gone from VICIdial (done)",
            "No: VICIdial still holds it (not done)",
        ),
    ],
)
def test_the_settle_question_fits_the_kind(kind, question, done, not_done):
    field = SettleForm(kind=kind).fields["done_in_vicidial"]
    assert field.label == question
    assert field.choices == [("yes", done), ("no", not_done)]
    posted = SettleForm({"done_in_vicidial": "yes", "note": "Looked."})
    assert posted.is_valid() and posted.cleaned_data["done_in_vicidial"] is True


def test_an_unknown_disable_asks_whether_the_alias_is_gone(users, client_for, simulator):
    alias_request = disable_request(users)
    simulator.state.inject(Fault(reset=True))
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    response = page_of(client_for("admin2"), alias_request)
    page = text_of(response)
    assert "Is the alias gone from VICIdial?" in page
    assert "Yes: it is gone from VICIdial (done)" in page
    assert "the disable may or may not have been made" in page
    assert re.search(r">\s*Retry update_phone_alias\s*</button>", response.content.decode())
