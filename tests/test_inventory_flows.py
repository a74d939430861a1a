"""Change, disable and enable end to end over HTTP: one person asks on the alias's pages, an
admin approves on the request's page, and the simulated VICIdial answers byte for byte as
/work/shared/vicidial-protocol.md says. The request page and the inventory show the result."""

import uuid

import pytest
from django.urls import reverse

from aliases.models import Alias, AliasRequest

from .inventory_helpers import created_alias, disabled_alias, text_of

Status = AliasRequest.Status
API_USER = "6666"  # settings.VICIDIAL_API_USER: the simulator's user, echoed in every answer


@pytest.fixture
def alias(users, simulator) -> Alias:
    return created_alias(users)


def ask(client, alias: Alias, action: str, **values) -> AliasRequest:
    """Post the alias's form as the page would, prefilled values included, and return the
    request it created."""
    url = reverse(f"aliases:alias_{action}", args=[alias.pk])
    form = client.get(url).context["form"]
    shown = {
        name: form[name].value() for name in ("alias_name", "phone_logins") if name in form.fields
    }
    response = client.post(
        url,
        {
            "justification": "Asked on the page.",
            "submission_token": uuid.uuid4(),
            **shown,
            **values,
        },
    )
    assert response.status_code == 302, text_of(response)
    return AliasRequest.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def approve(client, alias_request: AliasRequest):
    """The admin's approval on the request page; the page it lands on."""
    response = client.post(
        reverse("aliases:request_approve", args=[alias_request.pk]),
        {"note": "Checked."},
        follow=True,
    )
    alias_request.refresh_from_db()
    return response


def inventory_row(client, alias: Alias) -> str:
    response = client.get(reverse("aliases:inventory"), {"alias_id": alias.alias_id})
    ((listed, _live),) = response.context["rows"]
    assert listed.pk == alias.pk
    return text_of(response).split("Open request", 1)[1]


def test_a_change_is_carried_out_and_the_inventory_follows(client_for, alias, simulator):
    change = ask(
        client_for("supervisor"),
        alias,
        "change",
        alias_name="Sales floor",
        phone_logins="1001,1003",
    )
    page = approve(client_for("admin"), change)
    assert change.status == Status.SUCCEEDED
    text = text_of(page)
    assert "Approved. Result: Changed in VICIdial." in text
    assert (
        f"SUCCESS: update_phone_alias PHONE ALIAS HAS BEEN UPDATED - {API_USER}|sales_desk|" in text
    )
    assert simulator.state.alias("sales_desk").alias_name == "Sales floor"
    assert simulator.state.alias("sales_desk").logins_list == "1001,1003"
    row = inventory_row(client_for("auditor"), alias)
    assert "Sales floor" in row and "1001 , 1003" in row and "Active in VICIdial" in row


def test_a_disable_removes_it_from_vicidial_and_keeps_it_listed(client_for, alias, simulator):
    disable = ask(client_for("supervisor"), alias, "disable")
    text = text_of(approve(client_for("admin"), disable))
    assert disable.status == Status.SUCCEEDED
    assert "Approved. Result: Disabled: removed from VICIdial." in text
    assert (
        f"SUCCESS: update_phone_alias PHONE ALIAS HAS BEEN DELETED - {API_USER}|sales_desk" in text
    )
    assert simulator.state.alias("sales_desk") is None
    row = inventory_row(client_for("supervisor"), alias)
    assert "Disabled (removed from VICIdial)" in row and "1001 , 1002" in row


def test_an_enable_creates_it_again(client_for, users, simulator):
    alias = disabled_alias(users)
    enable = ask(client_for("supervisor2"), alias, "enable")
    text = text_of(approve(client_for("admin2"), enable))
    assert enable.status == Status.SUCCEEDED
    assert "Approved. Result: Enabled: created in VICIdial again." in text
    assert (
        f"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - {API_USER}|sales_desk|Sales desk"
        "|1001,1002" in text
    )
    assert simulator.state.alias("sales_desk").logins_list == "1001,1002"
    assert "Active in VICIdial" in inventory_row(client_for("admin"), alias)


def test_an_alias_removed_behind_the_portals_back_is_reported_as_drift(
    client_for, alias, simulator
):
    values = {"alias_name": "Sales floor", "phone_logins": "1001"}
    alias_request = ask(client_for("supervisor"), alias, "change", **values)
    simulator.state.aliases.pop("sales_desk")
    text = text_of(approve(client_for("admin"), alias_request))
    assert alias_request.status == Status.FAILED
    assert "Approved. Result: Failed in VICIdial." in text
    assert f"ERROR: update_phone_alias PHONE ALIAS DOES NOT EXIST: |{API_USER}|sales_desk" in text
    assert "the two disagree (drift). Nothing was changed" in text
    row = inventory_row(client_for("admin"), alias)
    assert "Sales desk" in row and "1001 , 1002" in row and "Active in VICIdial" in row
    assert "Ask to enable it to create it in VICIdial again" in text


def test_a_disable_of_an_alias_removed_behind_the_portals_back_lists_it_disabled(
    client_for, alias, simulator
):
    alias_request = ask(client_for("supervisor"), alias, "disable")
    simulator.state.aliases.pop("sales_desk")
    text = text_of(approve(client_for("admin"), alias_request))
    assert "Approved. Result: Disabled: removed from VICIdial." in text
    assert f"ERROR: update_phone_alias PHONE ALIAS DOES NOT EXIST: |{API_USER}|sales_desk" in text
    assert "it was already gone from VICIdial" in text
    assert "Disabled (removed from VICIdial)" in inventory_row(client_for("admin"), alias)


def test_a_change_to_a_phone_vicidial_lacks_fails_and_changes_nothing(client_for, alias, simulator):
    # The form accepts any well-formed login: only VICIdial knows its phones.
    change = ask(
        client_for("supervisor"),
        alias,
        "change",
        alias_name="Sales desk",
        phone_logins="1001,zz999",
    )
    text = text_of(approve(client_for("admin"), change))
    assert change.status == Status.FAILED
    assert f"ERROR: update_phone_alias PHONE DOES NOT EXIST: |{API_USER}|zz999" in text
    assert simulator.state.alias("sales_desk").logins_list == "1001,1002"
    assert "1001 , 1002" in inventory_row(client_for("admin"), alias)


def test_a_disable_without_the_delete_right_fails_with_its_reason(client_for, alias, simulator):
    simulator.state.users[API_USER].ast_delete_phones = False
    disable = ask(client_for("supervisor"), alias, "disable")
    text = text_of(approve(client_for("admin"), disable))
    assert disable.status == Status.FAILED
    notice = (
        "NOTICE: update_phone_alias USER DOES NOT HAVE PERMISSION TO DELETE PHONE ALIASES: "
        f"|{API_USER}|0"
    )
    assert notice in text
    assert (
        "VICIdial did nothing: its API user may not delete phone aliases" in disable.outcome_reason
    )
    assert 'Give that user "Delete Phones" (ast_delete_phones) in VICIdial' in text
    assert simulator.state.alias("sales_desk") is not None
    assert "Active in VICIdial" in inventory_row(client_for("admin"), alias)


def test_an_enable_of_an_alias_vicidial_already_has_is_reported_as_drift(
    client_for, users, simulator
):
    alias = disabled_alias(users)
    simulator.state.add_alias("SALES_DESK", "Made by hand", "1004")
    enable = ask(client_for("supervisor"), alias, "enable")
    text = text_of(approve(client_for("admin"), enable))
    assert enable.status == Status.FAILED
    assert f"ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |{API_USER}|sales_desk" in text
    assert "so it was not created again: the portal and VICIdial disagree (drift)" in text
    assert simulator.state.alias("sales_desk").alias_name == "Made by hand"
    assert "Disabled (removed from VICIdial)" in inventory_row(client_for("admin"), alias)


def test_the_requester_cannot_approve_their_own_disable(client_for, alias, simulator):
    disable = ask(client_for("admin"), alias, "disable")
    text = text_of(approve(client_for("admin"), disable))
    assert disable.status == Status.PENDING
    assert "cannot approve your own request" in text
    assert simulator.state.alias("sales_desk") is not None
