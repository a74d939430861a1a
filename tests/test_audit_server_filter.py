"""The audit trail filtered by VICIdial server: on the portal's page, in its exports and in the
admin, and only offered when there are several servers to tell apart."""

import csv
import io
import json

import pytest
from django.urls import reverse

from aliases import selectors
from aliases.audit import AuditContext, record
from aliases.models import AliasRequest, AuditEvent, VicidialCall

Type = AuditEvent.Type
AUDIT = reverse("aliases:audit_list")
ADMIN_LIST = reverse("admin:aliases_auditevent_changelist")


@pytest.fixture
def east(settings):
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": "http://127.0.0.1:1/vicidial/non_agent_api.php", "LABEL": "East"}
    }
    return settings


def _request(requester, server: str, alias_id: str) -> AliasRequest:
    return AliasRequest.objects.create(
        server=server, alias_id=alias_id, alias_name="Desk", justification="x", requester=requester
    )


def _call(server: str) -> VicidialCall:
    return VicidialCall.objects.create(
        server=server, function="add_phone_alias", method="POST", url="http://x"
    )


@pytest.fixture
def trail(users, east):
    """One event per way an event names its server, on each server, and one naming none.

    Each way stands alone (a call without a request, changes without either), so the filter
    must follow every one of them."""
    requester = users["supervisor"]
    context = AuditContext.system("test")
    made = {}

    def add(key: str, **details) -> None:
        made[key] = record(context=context, **details).pk

    add("east_request", event_type=Type.REQUEST_CREATED, request=_request(requester, "east", "e1"))
    add("east_call", event_type=Type.VICIDIAL_CALL, call=_call("east"), outcome="succeeded")
    add("east_drift", event_type=Type.DRIFT_CHECKED, changes={"server": "east"}, outcome="drift")
    add(
        "default_request",
        event_type=Type.REQUEST_CREATED,
        request=_request(requester, "default", "d1"),
    )
    add("default_call", event_type=Type.VICIDIAL_CALL, call=_call("default"))
    add("default_circuit", event_type=Type.CIRCUIT_OPENED, changes={"server": "default"})
    # Another key naming east is not the server it concerns.
    add("no_server", event_type=Type.LOGIN_FAILED, changes={"lock": "east"}, outcome="failed")
    return made


def _ids(trail: dict[str, int], *keys: str) -> set[int]:
    return {trail[key] for key in keys}


EAST = ("east_request", "east_call", "east_drift")
DEFAULT = ("default_request", "default_call", "default_circuit")


def test_the_selector_follows_request_call_and_recorded_server(trail):
    east = set(selectors.audit_events_filtered(server="east").values_list("pk", flat=True))
    default = set(selectors.audit_events_filtered(server="default").values_list("pk", flat=True))

    assert east == _ids(trail, *EAST)
    assert default == _ids(trail, *DEFAULT)
    everything = set(selectors.audit_events_filtered().values_list("pk", flat=True))
    assert everything == set(trail.values())


def test_the_server_filter_combines_with_the_others_in_one_query(trail, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = list(selectors.audit_events_filtered(server="east", outcome="drift"))
    assert [event.pk for event in found] == [trail["east_drift"]]


def _shown(response) -> set[int]:
    return {event.pk for event in response.context["page"].events}


def test_the_audit_page_filters_by_server_and_keeps_it_in_the_export_links(trail, client_for):
    client = client_for("auditor")

    response = client.get(AUDIT, {"server": "east"})

    assert response.status_code == 200
    assert _shown(response) == _ids(trail, *EAST)
    page = response.content.decode()
    assert 'name="server"' in page and ">East</option>" in page
    assert f"{reverse('aliases:audit_export', args=['csv'])}?server=east" in page
    looked = AuditEvent.objects.filter(event_type=Type.AUDIT_VIEWED).latest("sequence")
    assert looked.changes["filters"] == {"server": "east"}


def test_an_unknown_server_is_refused_not_ignored(trail, client_for):
    response = client_for("auditor").get(AUDIT, {"server": "west"})

    assert response.status_code == 200
    assert _shown(response) == set()
    assert "server" in response.context["form"].errors


def test_with_one_server_the_page_offers_no_server_filter(users, client_for):
    page = client_for("auditor").get(AUDIT).content.decode()

    assert "VICIdial server" not in page and 'name="server"' not in page


def _exported(client, fmt: str, **filters) -> str:
    response = client.get(reverse("aliases:audit_export", args=[fmt]), filters)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_both_exports_honour_the_server_filter(trail, client_for):
    client = client_for("auditor")

    rows = csv.DictReader(io.StringIO(_exported(client, "csv", server="default")))
    lines = [json.loads(line) for line in _exported(client, "jsonl", server="east").splitlines()]

    assert {int(row["sequence"]) for row in rows} == {
        AuditEvent.objects.get(pk=pk).sequence for pk in _ids(trail, *DEFAULT)
    }
    assert {line["sequence"] for line in lines} == {
        AuditEvent.objects.get(pk=pk).sequence for pk in _ids(trail, *EAST)
    }
    exported = AuditEvent.objects.filter(event_type=Type.AUDIT_EXPORTED).latest("sequence")
    assert exported.changes["filters"] == {"server": "east"}


def test_the_admin_lists_events_of_one_server(trail, client_for):
    client = client_for("admin")

    listing = client.get(ADMIN_LIST, {"server": "east"})
    unfiltered = client.get(ADMIN_LIST)

    assert listing.status_code == 200
    assert {event.pk for event in listing.context["cl"].result_list} == _ids(trail, *EAST)
    assert "?server=east" in unfiltered.content.decode()
    assert "By VICIdial server" in unfiltered.content.decode()


def test_the_admin_offers_no_server_filter_with_one_server(users, client_for):
    page = client_for("admin").get(ADMIN_LIST).content.decode()

    assert "By VICIdial server" not in page
