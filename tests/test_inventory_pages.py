"""The inventory pages and the change, disable and enable forms: who may open them, what they
show, and what a submission records. VICIdial's answers to approved requests:
test_inventory_flows.py."""

import uuid

import pytest
from django.urls import reverse

from aliases import services
from aliases.audit import EventType
from aliases.models import Alias, AliasRequest, AuditEvent

from .base import submit
from .inventory_helpers import adopted_alias, created_alias, disabled_alias, text_of

Kind = AliasRequest.Kind
Status = AliasRequest.Status
EAST = {
    "east": {
        "API_URL": "http://127.0.0.1:9/vicidial/non_agent_api.php",
        "API_USER": "6666",
        "API_PASS": "east-password",
        "LABEL": "East office",
    }
}
FORMS = ["alias_change", "alias_disable", "alias_enable"]


@pytest.fixture
def alias(users, simulator) -> Alias:
    return created_alias(users)


def page_urls(alias: Alias) -> list[str]:
    return [
        reverse("aliases:inventory"),
        reverse("aliases:alias_detail", args=[alias.pk]),
        *(reverse(f"aliases:{name}", args=[alias.pk]) for name in FORMS),
    ]


def services_disable(requester, alias: Alias) -> AliasRequest:
    return services.alias_disable_submit(
        requester=requester, alias_pk=alias.pk, justification="No longer needed."
    )


def form_data(**values) -> dict[str, object]:
    return {"justification": "The team moved floors.", "submission_token": uuid.uuid4(), **values}


# --- who may open what ----------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, alias):
    for url in page_urls(alias):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    for name in FORMS:
        posted = client.post(reverse(f"aliases:{name}", args=[alias.pk]), form_data())
        assert posted["Location"].startswith(reverse("login"))
    assert AliasRequest.objects.count() == 1


def test_outsiders_get_403_on_every_inventory_page(client_for, alias):
    outsider = client_for("outsider")
    for url in page_urls(alias):
        assert outsider.get(url).status_code == 403, url
        assert outsider.post(url, form_data()).status_code in (403, 405), url
    assert AliasRequest.objects.count() == 1


def test_auditors_see_the_inventory_but_cannot_ask_for_anything(client_for, alias):
    auditor = client_for("auditor")
    assert auditor.get(reverse("aliases:inventory")).status_code == 200
    detail = auditor.get(reverse("aliases:alias_detail", args=[alias.pk]))
    assert detail.status_code == 200
    assert 'data-testid="alias-actions"' not in detail.content.decode()
    for name in FORMS:
        url = reverse(f"aliases:{name}", args=[alias.pk])
        assert auditor.get(url).status_code == 403
        assert (
            auditor.post(url, form_data(alias_name="New name", phone_logins="1001")).status_code
            == 403
        )
    assert AliasRequest.objects.count() == 1


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_the_forms_answer_only_get_and_post(client_for, alias, name, method):
    response = getattr(client_for("supervisor"), method)(
        reverse(f"aliases:{name}", args=[alias.pk])
    )
    assert response.status_code == 405


@pytest.mark.parametrize("view", ["inventory", "alias_detail"])
def test_the_read_pages_refuse_post(client_for, alias, view):
    args = [alias.pk] if view == "alias_detail" else []
    assert client_for("admin").post(reverse(f"aliases:{view}", args=args)).status_code == 405


def test_an_alias_that_does_not_exist_is_404(client_for, alias):
    supervisor = client_for("supervisor")
    for name in ["alias_detail", *FORMS]:
        assert supervisor.get(reverse(f"aliases:{name}", args=[alias.pk + 99])).status_code == 404


def test_the_navbar_links_the_inventory_for_those_who_may_see_it(client_for, db):
    for persona in ["supervisor", "admin", "auditor"]:
        page = client_for(persona).get(reverse("aliases:home")).content.decode()
        assert f'href="{reverse("aliases:inventory")}">Aliases</a>' in page, persona
    outsider_page = client_for("outsider").get(reverse("login"), follow=True).content.decode()
    assert reverse("aliases:inventory") not in outsider_page


# --- the list ---------------------------------------------------------------------------


def listed_ids(response) -> list[str]:
    return [alias.alias_id for alias, _live in response.context["rows"]]


def test_the_list_searches_alias_ids_by_part_and_logins_exactly(client_for, db):
    adopted_alias("Sales_Desk", ["1001"])
    adopted_alias("support", ["10010"])
    adopted_alias("night_sales", ["CC100", "1002"])
    auditor = client_for("auditor")
    url = reverse("aliases:inventory")
    assert listed_ids(auditor.get(url, {"alias_id": "SALES"})) == ["night_sales", "Sales_Desk"]
    assert listed_ids(auditor.get(url, {"login": "1001"})) == ["Sales_Desk"]
    assert listed_ids(auditor.get(url, {"login": "cc100"})) == ["night_sales"]
    assert listed_ids(auditor.get(url, {"login": "100"})) == []


def test_the_list_filters_by_state_and_shows_human_labels(client_for, db):
    adopted_alias("on_one", ["1001"])
    adopted_alias("off_one", ["1002"], state=Alias.State.DISABLED)
    response = client_for("supervisor").get(reverse("aliases:inventory"), {"state": "disabled"})
    assert listed_ids(response) == ["off_one"]
    text = text_of(response)
    assert "Disabled (removed from VICIdial)" in text
    assert "Adopted from VICIdial" in text


def test_a_search_that_is_not_valid_lists_nothing(client_for, db):
    adopted_alias("on_one", ["1001"])
    response = client_for("auditor").get(reverse("aliases:inventory"), {"state": "gone"})
    assert listed_ids(response) == []
    assert "Select a valid choice." in response.content.decode()


def test_the_server_filter_is_offered_only_with_several_servers(client_for, settings, db):
    adopted_alias("west_one", ["1001"])
    adopted_alias("east_one", ["1001"], server="east")
    auditor = client_for("auditor")
    url = reverse("aliases:inventory")
    assert "server" not in auditor.get(url).context["form"].fields
    settings.VICIDIAL_SERVERS = EAST
    response = auditor.get(url)
    assert "server" in response.context["form"].fields
    assert "East office" in text_of(response)
    assert listed_ids(auditor.get(url, {"server": "east"})) == ["east_one"]


def test_the_list_is_paginated(client_for, db):
    for number in range(27):
        adopted_alias(f"alias_{number:02}", ["1001"])
    auditor = client_for("auditor")
    first = auditor.get(reverse("aliases:inventory"))
    assert len(first.context["rows"]) == 25
    assert "Page 1 of 2" in text_of(first)
    second = auditor.get(reverse("aliases:inventory"), {"page": 2})
    assert listed_ids(second) == ["alias_25", "alias_26"]


def test_the_list_links_logins_to_their_history_for_those_who_may_read_it(client_for, db):
    adopted_alias("on_one", ["1001"])
    history = f'href="{reverse("aliases:extension_history", args=["1001"])}"'
    assert history in client_for("auditor").get(reverse("aliases:inventory")).content.decode()
    assert (
        history not in client_for("supervisor").get(reverse("aliases:inventory")).content.decode()
    )


def test_the_list_shows_the_open_request_linked_for_those_who_may_see_it(client_for, users, alias):
    open_request = services_disable(users["supervisor"], alias)
    link = f'href="{reverse("aliases:request_detail", args=[open_request.pk])}"'
    mine = client_for("supervisor").get(reverse("aliases:inventory"))
    assert link in mine.content.decode()
    assert f"#{open_request.pk} disable, pending approval" in text_of(mine)
    theirs = client_for("supervisor2").get(reverse("aliases:inventory"))
    assert f"#{open_request.pk} disable, pending approval" in text_of(theirs)
    assert link not in theirs.content.decode()


# --- the alias page ---------------------------------------------------------------------


def test_the_alias_page_shows_the_alias_and_every_request_newest_first(client_for, users, alias):
    rejected = submit(users["supervisor"], alias_id="SALES_DESK_X")  # another alias
    later = services_disable(users["supervisor"], alias)
    response = client_for("admin").get(reverse("aliases:alias_detail", args=[alias.pk]))
    history = list(response.context["history"])
    assert [row.kind for row in history] == [Kind.DISABLE, Kind.ADD]
    assert history[0] == later
    assert rejected not in history
    text = text_of(response)
    assert "Active in VICIdial" in text
    assert "Created through the portal" in text
    assert "1001 , 1002" in text
    assert f"by request #{alias.last_request_id} (add)" in text


def test_an_active_alias_offers_change_and_disable(client_for, alias):
    page = client_for("supervisor").get(reverse("aliases:alias_detail", args=[alias.pk]))
    content = page.content.decode()
    assert reverse("aliases:alias_change", args=[alias.pk]) in content
    assert reverse("aliases:alias_disable", args=[alias.pk]) in content
    assert reverse("aliases:alias_enable", args=[alias.pk]) not in content


def test_a_disabled_alias_offers_enable_only(client_for, users, simulator):
    alias = disabled_alias(users)
    content = (
        client_for("admin").get(reverse("aliases:alias_detail", args=[alias.pk])).content.decode()
    )
    assert reverse("aliases:alias_enable", args=[alias.pk]) in content
    assert reverse("aliases:alias_change", args=[alias.pk]) not in content
    assert reverse("aliases:alias_disable", args=[alias.pk]) not in content
    assert "Disabled (removed from VICIdial)" in content


def test_an_open_request_replaces_the_actions_with_a_link_to_it(client_for, users, alias):
    open_request = services_disable(users["supervisor"], alias)
    response = client_for("supervisor").get(reverse("aliases:alias_detail", args=[alias.pk]))
    content = response.content.decode()
    assert 'data-testid="alias-actions"' not in content
    assert reverse("aliases:alias_change", args=[alias.pk]) not in content
    assert f'href="{reverse("aliases:request_detail", args=[open_request.pk])}"' in content
    assert f"#{open_request.pk} disable, pending approval is open for this alias" in text_of(
        response
    )


# --- the change form ----------------------------------------------------------------------


def test_the_change_form_is_prefilled_with_the_alias_as_it_is(client_for, alias):
    form = (
        client_for("supervisor")
        .get(reverse("aliases:alias_change", args=[alias.pk]))
        .context["form"]
    )
    assert form["alias_name"].value() == "Sales desk"
    assert form["phone_logins"].value() == "1001, 1002"
    assert form["from_vicidial"].value() is False
    assert form["submission_token"].value()
    assert AliasRequest.objects.count() == 1  # showing the form asks for nothing


def test_the_drift_page_prefills_the_change_with_what_vicidial_holds(client_for, alias):
    response = client_for("admin").get(
        reverse("aliases:alias_change", args=[alias.pk]),
        {"alias_name": "Sales floor", "phone_logins": "1003,1004", "from_vicidial": "1"},
    )
    form = response.context["form"]
    assert form["alias_name"].value() == "Sales floor"
    assert form["phone_logins"].value() == "1003,1004"
    content = response.content.decode()
    assert 'name="from_vicidial" value="True"' in content
    assert 'data-testid="from-vicidial"' in content


def test_a_change_is_submitted_and_audited(client_for, users, alias):
    response = client_for("supervisor").post(
        reverse("aliases:alias_change", args=[alias.pk]),
        form_data(alias_name="Sales floor", phone_logins="1001, 1003"),
        follow=True,
    )
    change = AliasRequest.objects.get(kind=Kind.CHANGE)
    assert response.redirect_chain[-1][0] == reverse("aliases:request_detail", args=[change.pk])
    assert f"Request #{change.pk} to change sales_desk is waiting" in text_of(response)
    assert (change.status, change.alias_record, change.requester) == (
        Status.PENDING,
        alias,
        users["supervisor"],
    )
    assert (change.alias_name, change.logins_in_order()) == ("Sales floor", ["1001", "1003"])
    assert (change.previous_name, change.previous_logins) == ("Sales desk", ["1001", "1002"])
    event = AuditEvent.objects.get(event_type=EventType.REQUEST_CREATED, request=change)
    assert event.actor_username == "supervisor"
    assert event.changes["kind"] == "change"
    assert event.changes["alias_name"] == ["Sales desk", "Sales floor"]
    assert event.extensions == ["1001", "1003", "1002"]


def test_a_change_is_held_to_the_rules_of_an_add(client_for, alias):
    response = client_for("supervisor").post(
        reverse("aliases:alias_change", args=[alias.pk]),
        form_data(alias_name='A&B "quoted"', phone_logins="1001,,1002"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "'&', '\"'" in errors["alias_name"][0]
    assert "empty entry" in errors["phone_logins"][0]
    assert not AliasRequest.objects.filter(kind=Kind.CHANGE).exists()


def test_a_change_that_changes_nothing_is_refused_on_the_form(client_for, alias):
    response = client_for("supervisor").post(
        reverse("aliases:alias_change", args=[alias.pk]),
        form_data(alias_name="Sales desk", phone_logins="1002, 1001"),
    )
    assert response.status_code == 200
    assert "Nothing would change" in text_of(response)
    assert not AliasRequest.objects.filter(kind=Kind.CHANGE).exists()


def test_a_double_submitted_change_creates_one_request(client_for, alias):
    supervisor = client_for("supervisor")
    url = reverse("aliases:alias_change", args=[alias.pk])
    data = form_data(alias_name="Sales floor", phone_logins="1001")
    first = supervisor.post(url, data)
    second = supervisor.post(url, data, follow=True)
    change = AliasRequest.objects.get(kind=Kind.CHANGE)
    assert first["Location"] == reverse("aliases:request_detail", args=[change.pk])
    assert second.redirect_chain[-1][0] == first["Location"]
    assert f"already submitted as request #{change.pk}" in text_of(second)


def test_a_second_request_while_one_is_open_is_refused(client_for, users, alias):
    open_request = services_disable(users["supervisor2"], alias)
    supervisor = client_for("supervisor")
    url = reverse("aliases:alias_change", args=[alias.pk])
    shown = supervisor.get(url)
    assert 'data-testid="open-request"' in shown.content.decode()
    assert "<form" not in shown.content.decode().split("<main", 1)[1]
    posted = supervisor.post(url, form_data(alias_name="Sales floor", phone_logins="1001"))
    assert posted.status_code == 200
    assert f"already has a live request: #{open_request.pk}" in text_of(posted)
    assert AliasRequest.objects.count() == 2


def test_a_disabled_alias_cannot_be_changed(client_for, users, simulator):
    alias = disabled_alias(users)
    supervisor = client_for("supervisor")
    url = reverse("aliases:alias_change", args=[alias.pk])
    assert 'data-testid="wrong-state"' in supervisor.get(url).content.decode()
    posted = supervisor.post(url, form_data(alias_name="Sales floor", phone_logins="1001"))
    assert "it cannot be changed. Nothing was requested." in text_of(posted)
    assert not AliasRequest.objects.filter(kind=Kind.CHANGE).exists()


# --- disable and enable ---------------------------------------------------------------


def test_the_disable_form_says_what_disabling_does(client_for, alias):
    response = client_for("supervisor").get(reverse("aliases:alias_disable", args=[alias.pk]))
    text = text_of(response)
    assert "removes the alias from VICIdial" in text
    assert "can be enabled again" in text
    assert list(response.context["form"].fields) == ["submission_token", "justification"]


def test_a_disable_is_submitted_and_audited(client_for, users, alias):
    response = client_for("admin").post(
        reverse("aliases:alias_disable", args=[alias.pk]), form_data(), follow=True
    )
    disable = AliasRequest.objects.get(kind=Kind.DISABLE)
    assert response.redirect_chain[-1][0] == reverse("aliases:request_detail", args=[disable.pk])
    assert f"Request #{disable.pk} to disable sales_desk is waiting" in text_of(response)
    assert (disable.requester, disable.alias_record) == (users["admin"], alias)
    assert disable.logins_in_order() == ["1001", "1002"]
    event = AuditEvent.objects.get(event_type=EventType.REQUEST_CREATED, request=disable)
    assert (event.actor_username, event.changes["kind"]) == ("admin", "disable")


def test_a_disable_needs_a_justification(client_for, alias):
    response = client_for("supervisor").post(
        reverse("aliases:alias_disable", args=[alias.pk]), form_data(justification="")
    )
    assert response.context["form"].errors["justification"]
    assert not AliasRequest.objects.filter(kind=Kind.DISABLE).exists()


def test_the_enable_form_shows_what_will_be_created_again(client_for, users, simulator):
    alias = disabled_alias(users)
    response = client_for("supervisor").get(reverse("aliases:alias_enable", args=[alias.pk]))
    text = text_of(response)
    assert "creates the alias in VICIdial again" in text
    assert "What will be created again" in text
    assert "Sales desk" in text
    assert "1001 , 1002" in text


def test_an_enable_is_submitted_and_audited(client_for, users, simulator):
    alias = disabled_alias(users)
    response = client_for("supervisor").post(
        reverse("aliases:alias_enable", args=[alias.pk]),
        form_data(alias_name="Sales desk", phone_logins="1001, 1003"),
        follow=True,
    )
    enable = AliasRequest.objects.get(kind=Kind.ENABLE)
    # A phone gone since the alias was disabled is replaced on the way back.
    assert (enable.previous_logins, enable.logins_in_order()) == (
        ["1001", "1002"],
        ["1001", "1003"],
    )
    assert response.redirect_chain[-1][0] == reverse("aliases:request_detail", args=[enable.pk])
    assert f"Request #{enable.pk} to enable sales_desk is waiting" in text_of(response)
    event = AuditEvent.objects.get(event_type=EventType.REQUEST_CREATED, request=enable)
    assert (event.actor_username, event.changes["kind"]) == ("supervisor", "enable")


def test_an_active_alias_is_enabled_only_when_vicidial_lost_it(client_for, alias):
    supervisor = client_for("supervisor")
    url = reverse("aliases:alias_enable", args=[alias.pk])
    assert 'data-testid="recreate-explained"' in supervisor.get(url).content.decode()
    posted = supervisor.post(url, form_data(alias_name="Sales desk", phone_logins="1001,1002"))
    assert "it cannot be enabled unless VICIdial shows it missing" in text_of(posted)
    assert "has no database URL" in text_of(posted)
    assert not AliasRequest.objects.filter(kind=Kind.ENABLE).exists()


# --- the add form and the request list -----------------------------------------------------


def test_an_add_for_a_listed_alias_links_to_its_page(client_for, alias):
    response = client_for("supervisor2").post(
        reverse("aliases:request_new"),
        form_data(alias_id="SALES_DESK", alias_name="Sales", phone_logins="1001"),
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "The inventory already holds alias" in text_of(response)
    assert f'<a href="{reverse("aliases:alias_detail", args=[alias.pk])}">Open the alias</a>' in (
        content
    )
    assert AliasRequest.objects.count() == 1


def test_the_add_form_offers_a_server_only_with_several(client_for, settings, db):
    supervisor = client_for("supervisor")
    assert "server" not in supervisor.get(reverse("aliases:request_new")).context["form"].fields
    settings.VICIDIAL_SERVERS = EAST
    form = supervisor.get(reverse("aliases:request_new")).context["form"]
    assert list(form.fields)[0] == "server"
    assert form.fields["server"].choices == [("default", "default"), ("east", "East office")]
    supervisor.post(
        reverse("aliases:request_new"),
        form_data(server="east", alias_id="east_desk", alias_name="East desk", phone_logins="1001"),
    )
    assert AliasRequest.objects.get().server == "east"


def test_the_request_list_filters_by_kind_and_shows_it(client_for, users, alias):
    services_disable(users["supervisor"], alias)
    auditor = client_for("auditor")
    response = auditor.get(reverse("aliases:request_list"), {"kind": "disable"})
    assert [row.kind for row in response.context["page"].object_list] == [Kind.DISABLE]
    assert "Disable" in text_of(response)
    everything = auditor.get(reverse("aliases:request_list"))
    assert [row.kind for row in everything.context["page"].object_list] == [Kind.DISABLE, Kind.ADD]


def test_the_request_list_names_servers_only_with_several(client_for, users, settings, db):
    submit(users["supervisor"], alias_id="here_one")
    auditor = client_for("auditor")
    assert "<th>Server</th>" not in auditor.get(reverse("aliases:request_list")).content.decode()
    settings.VICIDIAL_SERVERS = EAST
    services.alias_request_submit(
        requester=users["supervisor"],
        alias_id="there_one",
        alias_name="There",
        phone_logins="1001",
        justification="x",
        server="east",
    )
    response = auditor.get(reverse("aliases:request_list"))
    assert "<th>Server</th>" in response.content.decode()
    assert "East office" in text_of(response)
    only_east = auditor.get(reverse("aliases:request_list"), {"server": "east"})
    assert [row.alias_id for row in only_east.context["page"].object_list] == ["there_one"]
