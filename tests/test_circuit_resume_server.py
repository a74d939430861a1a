"""Resuming calls names a server in the POST: only a configured one is resumed; any other
name (too long for the column, or unknown) is refused with a message, and no circuit row is
made for it."""

import pytest
from django.urls import reverse

from aliases import services
from aliases.errors import UnknownVicidialServer
from aliases.models import AuditEvent, VicidialCircuit

from .inventory_helpers import text_of

RESET = AuditEvent.Type.CIRCUIT_RESET
REFUSED = "The portal has no VICIdial server of that name"


def east(settings) -> None:
    settings.VICIDIAL_SERVERS = {"east": {"API_URL": "http://127.0.0.1:9/x", "API_PASS": "p"}}


@pytest.mark.parametrize("server", ["x" * 21, "west", "East", "default "], ids=repr)
def test_the_page_refuses_a_server_it_does_not_know(users, client_for, settings, server):
    east(settings)
    response = client_for("admin").post(
        reverse("aliases:vicidial_resume"), {"server": server}, follow=True
    )
    assert response.redirect_chain == [(reverse("aliases:home"), 302)]
    assert REFUSED in text_of(response)
    assert not VicidialCircuit.objects.exists()
    assert not AuditEvent.objects.filter(event_type=RESET).exists()


def test_the_service_refuses_it_for_every_caller(users, settings):
    east(settings)
    with pytest.raises(UnknownVicidialServer, match="Nothing was resumed"):
        services.vicidial_circuit_reset(actor=users["admin"], server="west")
    assert not VicidialCircuit.objects.exists()


def test_a_configured_server_is_resumed(users, client_for, settings):
    east(settings)
    VicidialCircuit.objects.create(server="east", is_open=True, reason="Login incorrect")
    response = client_for("admin").post(
        reverse("aliases:vicidial_resume"), {"server": "east"}, follow=True
    )
    assert "Calls to VICIdial server east resumed." in text_of(response)
    assert not VicidialCircuit.objects.get(server="east").is_open
    assert AuditEvent.objects.filter(event_type=RESET).count() == 1


def test_the_banner_offers_no_resume_for_a_removed_server(users, client_for, settings):
    """Its resume would be refused, and no call goes to it any more anyway."""
    VicidialCircuit.objects.create(server="east", is_open=True, reason="Login incorrect")
    VicidialCircuit.objects.create(server="default", is_open=True, reason="Login incorrect")
    page = text_of(client_for("admin").get(reverse("aliases:home")))
    assert "Resume calls to default" in page
    assert "Resume calls to east" not in page
