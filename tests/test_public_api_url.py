"""The API URL as pages show it and the audit trail keeps it: the same public, redacted form
calls record (no user:pass@, no query string, no fragment), and start-up refuses a URL
that carries any of them."""

import pytest
from django.core.checks import run_checks
from django.urls import reverse

from aliases import services
from aliases.models import AuditEvent
from aliases.preflight import preflight_checks
from aliases.vicidial.client import VicidialConfig

from .base import submit
from .inventory_helpers import text_of

API_PATH = "/vicidial/non_agent_api.php"


def leaky_urls(password: str) -> dict[str, str]:
    return {
        "query": f"http://127.0.0.1:9{API_PATH}?x=1&pass={password}#frag",
        "userinfo": f"http://6666:{password}@127.0.0.1:9{API_PATH}",
    }


@pytest.mark.parametrize("shape", ["query", "userinfo"])
def test_preflight_page_and_approval_event_show_the_public_url(shape, users, client_for, settings):
    password = settings.VICIDIAL_API_PASS
    settings.VICIDIAL_API_URL = leaky_urls(password)[shape]
    pending = submit(users["supervisor"])
    [parameters] = [check for check in preflight_checks(pending) if check.key == "parameters"]
    assert parameters.detail == f"POST http://127.0.0.1:9{API_PATH}"

    page = client_for("admin").get(reverse("aliases:request_detail", args=[pending.pk]))
    assert page.status_code == 200
    assert f"POST http://127.0.0.1:9{API_PATH}" in text_of(page)
    for leak in (password, "x=1", "#frag", "6666:"):
        assert leak not in page.content.decode()

    services.alias_request_approve(request_id=pending.pk, actor=users["admin"])
    approved = AuditEvent.objects.get(event_type=AuditEvent.Type.REQUEST_APPROVED)
    recorded = [c for c in approved.changes["preflight"] if c["check"] == "parameters"]
    assert recorded[0]["detail"] == f"POST http://127.0.0.1:9{API_PATH}"
    assert password not in str(approved.changes) and "x=1" not in str(approved.changes)


def test_the_public_url_is_what_calls_record():
    config = VicidialConfig(
        url=f"https://api:Api-Secret-55@vici.example{API_PATH}?user=admin#top",
        user="6666",
        password="Api-Secret-55",
        source_tag="portal",
    )
    assert config.public_url == f"https://vici.example{API_PATH}"
    masked = VicidialConfig(
        url="https://vici.example/Api-Secret-55/api.php",
        user="6666",
        password="Api-Secret-55",
        source_tag="portal",
    )
    assert "Api-Secret-55" not in masked.public_url


def e002(settings) -> list[str]:
    return [message.msg for message in run_checks() if message.id == "aliases.E002"]


@pytest.mark.parametrize(
    "suffix", ["?user=admin", "?pass=Other-Secret-1", "?x=1", "#frag", "?"], ids=repr
)
def test_start_up_refuses_a_query_string_or_fragment(settings, suffix):
    settings.VICIDIAL_API_URL = f"https://vici.example{API_PATH}{suffix}"
    assert e002(settings) == [
        "VICIDIAL_API_URL must not carry a query string or fragment; give the address of "
        "non_agent_api.php only."
    ]


def test_start_up_names_the_other_servers_setting(settings):
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": f"https://east.example{API_PATH}?pass=x", "API_PASS": "p"}
    }
    [message] = e002(settings)
    assert message.startswith("VICIDIAL_EAST_API_URL must not carry a query string")


def test_start_up_accepts_a_plain_api_url(settings):
    settings.VICIDIAL_API_URL = f"https://vici.example{API_PATH}"
    assert e002(settings) == []
