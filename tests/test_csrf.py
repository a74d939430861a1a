"""Every state-changing view refuses a POST without a valid CSRF token, and changes nothing."""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from aliases import services
from aliases.models import Alias, AliasRequest, RequestBatch, VicidialCall, VicidialCircuit
from aliases.simulator import Fault

from .base import PASSWORD, submit
from .batch_helpers import csv_upload, paused_batch, queued_batch, upload_batch
from .inventory_helpers import created_alias

Status = AliasRequest.Status
NEW_PASSWORD = "Another-long-passphrase-2026"
TOKEN_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="(?P<token>[^"]+)"')
CSRF_REFUSAL = b"CSRF verification failed"


@dataclass(frozen=True)
class Case:
    """Who posts what where; `target` names the object in `world` the URL points at."""

    persona: str | None  # None: anonymous
    url: str  # URL name
    target: str | None = None
    data: Callable[[dict], dict] = lambda world: {}
    token_page: str = "aliases:home"  # a page that renders a form with a token for this persona
    stop_vicidial_calls: bool = False  # VICIdial refused the portal's login before
    vicidial_alias: str = ""  # adopting needs VICIdial's database to hold this alias
    # VICIdial's database holds what the unknown call asked, and the call ended long ago.
    settled_by_database: bool = False


CASES = {
    "aliases:request_new": Case(
        "supervisor",
        "aliases:request_new",
        data=lambda world: {
            "alias_id": "csrf_1",
            "alias_name": "CSRF probe",
            "phone_logins": "1001",
            "justification": "Checks the token.",
            "submission_token": str(uuid.uuid4()),
        },
    ),
    "aliases:request_upload": Case(
        "supervisor",
        "aliases:request_upload",
        data=lambda world: {"file": csv_upload("add,csrf_upload,CSRF probe,1001,Checks it.")},
        token_page="aliases:request_upload",
    ),
    "aliases:request_approve": Case(
        "admin", "aliases:request_approve", "pending", lambda world: {"note": "Fine."}
    ),
    "aliases:requests_approve_selected": Case(
        "admin",
        "aliases:requests_approve_selected",
        data=lambda world: {"note": "Fine.", "request": [world["pending"].pk]},
    ),
    "aliases:batch_approve": Case(
        "admin", "aliases:batch_approve", "upload", lambda world: {"note": "Fine."}
    ),
    "aliases:batch_pause": Case("admin", "aliases:batch_pause", "queued_batch"),
    "aliases:batch_resume": Case("admin", "aliases:batch_resume", "paused_batch"),
    "aliases:batch_withdraw": Case(
        "admin", "aliases:batch_withdraw", "paused_batch", lambda world: {"note": "Not needed."}
    ),
    "aliases:request_reject": Case(
        "admin", "aliases:request_reject", "pending", lambda world: {"note": "Not needed."}
    ),
    "aliases:request_cancel": Case("supervisor", "aliases:request_cancel", "pending"),
    "aliases:request_retry": Case(
        "admin", "aliases:request_retry", "unverified", lambda world: {"note": "Again."}
    ),
    "aliases:request_settle": Case(
        "admin",
        "aliases:request_settle",
        "unverified",
        lambda world: {"done_in_vicidial": "yes", "note": "Seen in VICIdial."},
    ),
    "aliases:request_verify_db": Case(
        "admin", "aliases:request_verify_db", "unverified", settled_by_database=True
    ),
    "aliases:vicidial_resume": Case("admin", "aliases:vicidial_resume", stop_vicidial_calls=True),
    "aliases:drift_adopt": Case(
        "admin",
        "aliases:drift_adopt",
        data=lambda world: {"server": "default", "alias_id": "csrf_adopt"},
        vicidial_alias="csrf_adopt",
    ),
    "aliases:alias_change": Case(
        "supervisor",
        "aliases:alias_change",
        "alias",
        lambda world: {
            "alias_name": "CSRF probe",
            "phone_logins": "1001",
            "justification": "Checks the token.",
            "submission_token": str(uuid.uuid4()),
        },
    ),
    "aliases:alias_disable": Case(
        "admin",
        "aliases:alias_disable",
        "alias",
        lambda world: {"justification": "Checks the token.", "submission_token": str(uuid.uuid4())},
    ),
    "aliases:alias_enable": Case(
        "supervisor",
        "aliases:alias_enable",
        "disabled",
        lambda world: {
            "alias_name": "Sales desk",
            "phone_logins": "1001",
            "justification": "Checks the token.",
            "submission_token": str(uuid.uuid4()),
        },
    ),
    "login": Case(
        None,
        "login",
        data=lambda world: {"username": "auditor", "password": PASSWORD},
        token_page="login",
    ),
    "logout": Case("supervisor", "logout"),
    "admin:login": Case(
        None,
        "admin:login",
        data=lambda world: {"username": "auditor", "password": PASSWORD},
        token_page="admin:login",
    ),
    "admin:logout": Case("auditor", "admin:logout", token_page="admin:index"),
    "admin:password_change": Case(
        "auditor",
        "admin:password_change",
        data=lambda world: {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        token_page="admin:password_change",
    ),
    # The admin actions endpoint: the changelist takes the action's POST.
    "admin:aliases_aliasrequest_changelist": Case(
        "admin",
        "admin:aliases_aliasrequest_changelist",
        data=lambda world: {
            "action": "reject_selected",
            "apply": "1",
            "note": "Rejected in the admin.",
            ACTION_CHECKBOX_NAME: [world["pending"].pk],
        },
        token_page="admin:aliases_aliasrequest_changelist",
    ),
}


@pytest.fixture
def world(users, simulator):
    """A pending request (in a CSV upload), one whose VICIdial outcome is unknown, two
    aliases in the inventory (one active, one disabled), and two bulk approvals whose calls
    wait: one queued, one paused."""
    active = created_alias(users, alias_id="active_1", logins="1001")
    disabled = created_alias(users, alias_id="disabled_1", logins="1002")
    services.alias_request_approve(
        request_id=services.alias_disable_submit(
            requester=users["supervisor"], alias_pk=disabled.pk, justification="Gone."
        ).pk,
        actor=users["admin"],
    )
    pending = submit(users["supervisor"], alias_id="pending_1")
    unverified = submit(users["supervisor"], alias_id="unknown_1", logins="cc100")
    simulator.state.inject(Fault(status=500, body=""))
    services.alias_request_approve(request_id=unverified.pk, actor=users["admin"])
    unverified.refresh_from_db()
    assert unverified.status == Status.NEEDS_VERIFICATION
    return {
        "pending": pending,
        "unverified": unverified,
        "alias": active,
        "disabled": disabled,
        "upload": upload_batch(users["supervisor"], pending),
        "queued_batch": queued_batch(users["supervisor"], users["admin"], "queued_1"),
        "paused_batch": paused_batch(users["supervisor"], users["admin"], "paused_1"),
    }


def state(client: Client) -> dict:
    """Everything the views above can change, as the client's session sees it."""
    return {
        "requests": sorted(AliasRequest.objects.values_list("alias_id", "kind", "status")),
        "aliases": sorted(Alias.objects.values_list("alias_id", "alias_name", "state")),
        "calls": VicidialCall.objects.count(),
        "circuit_open": list(VicidialCircuit.objects.values_list("is_open", flat=True)),
        "batches": list(RequestBatch.objects.order_by("pk").values_list("pk", "paused_at")),
        "passwords": sorted(get_user_model().objects.values_list("username", "password")),
        "logged_in_as": client.session.get("_auth_user_id"),
    }


def csrf_client(case: Case, users) -> Client:
    if case.stop_vicidial_calls:
        VicidialCircuit.objects.update_or_create(
            server="default", defaults={"is_open": True, "reason": "Login incorrect"}
        )
    client = Client(enforce_csrf_checks=True)
    if case.persona:
        client.force_login(users[case.persona])
    return client


def url_of(case: Case, world: dict) -> str:
    args = [world[case.target].pk] if case.target else []
    return reverse(case.url, args=args)


def fresh_token(client: Client, case: Case) -> str:
    page = client.get(reverse(case.token_page))
    assert page.status_code == 200, f"{case.token_page} gave {page.status_code}"
    return TOKEN_FIELD.search(page.content.decode())["token"]


def portal_post_views(client: Client) -> dict[str, list[str]]:
    """Each portal URL name with the methods its view allows, asked of the views themselves."""
    allowed = {}
    for entry in get_resolver().url_patterns:
        if not (isinstance(entry, URLResolver) and entry.namespace == "aliases"):
            continue
        for pattern in entry.url_patterns:
            route = str(pattern.pattern)
            url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: {"fmt": "csv"}.get(m[1], "1"), route)
            # The method decorators sit outermost, so even an anonymous PUT learns the answer.
            response = client.generic("PUT", url)
            assert response.status_code == 405, f"PUT {url} gave {response.status_code}"
            methods = [method.strip() for method in response["Allow"].split(",")]
            allowed[f"aliases:{pattern.name}"] = methods
    return allowed


def test_every_state_changing_portal_view_has_a_csrf_case(db):
    allowed = portal_post_views(Client())
    posting = {name for name, methods in allowed.items() if "POST" in methods}
    assert posting >= {"aliases:request_new", "aliases:request_approve", "aliases:vicidial_resume"}
    missing = posting - set(CASES)
    assert not missing, f"add a CSRF case to CASES in tests/test_csrf.py for {sorted(missing)}"


# Top-level URLs that change nothing; /healthz and /healthz/live are answered ahead of
# CsrfViewMiddleware (aliases.middleware.HealthzMiddleware), so they refuse POST by themselves.
READ_ONLY_TOP_LEVEL = {"healthz", "healthz_live"}


def test_every_top_level_url_has_a_csrf_case_or_refuses_post(db):
    names = {
        entry.name
        for entry in get_resolver().url_patterns
        if not isinstance(entry, URLResolver) and entry.name
    }
    missing = names - set(CASES) - READ_ONLY_TOP_LEVEL
    assert not missing, f"add {sorted(missing)} to CASES or READ_ONLY_TOP_LEVEL in this file"
    client = Client(enforce_csrf_checks=True)
    for name in READ_ONLY_TOP_LEVEL:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = client.generic(method, reverse(name))
            assert response.status_code == 405, f"{method} {name}: {response.status_code}"
            assert response["Allow"] == "GET, HEAD", name


FORM_PAGES = {
    "aliases:request_new",
    "aliases:request_upload",
    "aliases:alias_change",
    "aliases:alias_disable",
    "aliases:alias_enable",
}


def test_state_changes_are_post_only(users, world):
    allowed = portal_post_views(Client())
    posting = {name for name, methods in allowed.items() if "POST" in methods}
    # The exceptions: GET on the pages that ask for a request shows the form, and only that.
    for name in FORM_PAGES:
        assert allowed.pop(name) == ["GET", "POST"], name
        case = CASES[name]
        client = csrf_client(case, users)
        before = state(client)
        assert client.get(url_of(case, world)).status_code == 200, name
        assert state(client) == before, name
    for name in sorted(posting - FORM_PAGES):
        assert allowed[name] == ["POST"], name
        case = CASES[name]
        client = csrf_client(case, users)
        before = state(client)
        response = client.get(url_of(case, world))
        assert response.status_code == 405, name
        assert state(client) == before, name


@pytest.mark.parametrize("name", list(CASES))
def test_post_without_a_valid_token_is_refused_and_changes_nothing(request, users, world, name):
    case = CASES[name]
    if case.vicidial_alias:
        vicidial_db = request.getfixturevalue("vicidial_db")
        vicidial_db.add_alias(case.vicidial_alias, "CSRF probe", "1001")
        request.getfixturevalue("settings").VICIDIAL_DB_URL = vicidial_db.url
    if case.settled_by_database:
        vicidial_db = request.getfixturevalue("vicidial_db")
        vicidial_db.add_alias("unknown_1", "Sales desk", "cc100")
        request.getfixturevalue("settings").VICIDIAL_DB_URL = vicidial_db.url
        long_ago = timezone.now() - timedelta(hours=1)
        world["unverified"].calls.update(started_at=long_ago, finished_at=long_ago)
    client = csrf_client(case, users)
    url, data = url_of(case, world), case.data(world)
    token = fresh_token(client, case)  # also sets the CSRF cookie, as a browser would have it
    before = state(client)

    for label, attempt in [
        ("no token", data),
        ("a made-up token", {**data, "csrfmiddlewaretoken": "x" * 64}),
        ("a token from another session", {**data, "csrfmiddlewaretoken": other_token()}),
    ]:
        response = client.post(url, attempt)
        assert response.status_code == 403, f"{name} with {label}: {response.status_code}"
        assert CSRF_REFUSAL in response.content, f"{name} with {label}: refused, but not by CSRF"
        assert state(client) == before, f"{name} with {label} changed something"

    made_up_header = client.post(url, data, headers={"X-CSRFToken": "y" * 64})
    assert made_up_header.status_code == 403
    assert state(client) == before

    response = client.post(url, {**data, "csrfmiddlewaretoken": token})
    assert response.status_code not in (403, 405), f"{name} refused a valid token"
    assert response.status_code < 500
    assert state(client) != before, f"{name} with a valid token did nothing"


def other_token() -> str:
    """A well-formed token that belongs to a different browser."""
    stranger = Client(enforce_csrf_checks=True)
    return TOKEN_FIELD.search(stranger.get(reverse("login")).content.decode())["token"]
