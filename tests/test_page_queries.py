"""Query budgets of the hot portal pages: each page makes a fixed number of queries, the same
with three rows as with nine, so a query per row (N+1) cannot creep back in."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aliases.models import AliasRequest, AuditEvent, RequestBatch

from .base import submit
from .batch_helpers import upload_batch
from .inventory_helpers import approved


def _grow(users, simulator, count: int) -> None:
    """`count` more of everything the pages list: requests with logins, approved ones (a
    VICIdial call, an inventory alias, audit events about their phones), pending ones."""
    start = AliasRequest.objects.count()
    for number in range(start, start + count):
        logins = f"7{number:03d},8{number:03d}"
        for login in logins.split(","):
            simulator.state.add_phone(login)
        approved(
            submit(users["supervisor"], alias_id=f"done_{number}", logins=logins), users["admin"]
        )
        submit(users["supervisor"], alias_id=f"wait_{number}", logins=f"7{number:03d}")
    batch = RequestBatch.objects.first()
    pending = AliasRequest.objects.filter(status=AliasRequest.Status.PENDING, upload_batch=None)
    if batch is None:
        upload_batch(users["admin"], *pending)
    else:
        pending.update(upload_batch=batch)


def _latest(status: str) -> AliasRequest:
    return AliasRequest.objects.filter(status=status).order_by("-pk").first()


def _before_page() -> dict:
    about = AuditEvent.objects.filter(extension_rows__login="7000").order_by("-sequence")
    return {"before": about.values_list("sequence", flat=True)[1]}


# (name, persona, url, query string): each read after the rows exist.
PAGES: list[tuple[str, str, Callable[[], str], Callable[[], dict]]] = [
    ("home, supervisor", "supervisor", lambda: reverse("aliases:home"), dict),
    ("home, admin", "admin", lambda: reverse("aliases:home"), dict),
    ("home, auditor", "auditor", lambda: reverse("aliases:home"), dict),
    ("request list, admin", "admin", lambda: reverse("aliases:request_list"), dict),
    ("request list, supervisor", "supervisor", lambda: reverse("aliases:request_list"), dict),
    (
        "request list, searched",
        "admin",
        lambda: reverse("aliases:request_list"),
        lambda: {"login": "7000", "status": AliasRequest.Status.SUCCEEDED},
    ),
    (
        "request detail",
        "admin",
        lambda: reverse("aliases:request_detail", args=[_latest(AliasRequest.Status.SUCCEEDED).pk]),
        dict,
    ),
    ("audit list", "auditor", lambda: reverse("aliases:audit_list"), dict),
    (
        "audit list, filtered",
        "auditor",
        lambda: reverse("aliases:audit_list"),
        lambda: {"extension": "7000", "event_type": "request.created", "until": "2999-01-01"},
    ),
    ("audit list, oldest", "auditor", lambda: reverse("aliases:audit_list"), lambda: {"after": 0}),
    (
        "extension history",
        "auditor",
        lambda: reverse("aliases:extension_history", args=["7000"]),
        dict,
    ),
    (
        "extension history, older",
        "auditor",
        lambda: reverse("aliases:extension_history", args=["7000"]),
        _before_page,
    ),
    (
        "extension lookup",
        "auditor",
        lambda: reverse("aliases:extension_lookup"),
        lambda: {"login": "7000"},
    ),
    ("inventory list", "supervisor", lambda: reverse("aliases:inventory"), dict),
    (
        "batch page",
        "admin",
        lambda: reverse("aliases:batch_detail", args=[RequestBatch.objects.get().pk]),
        dict,
    ),
]

# The most each page may make, the look's own audit record included: the session, the user
# and their permissions (3), then the page's own (and, for the request and batch pages, the
# test's own read of which one to open). Exact on SQLite, so that a saved query stays saved;
# PostgreSQL writes a look's event in two statements fewer (aliases/audit/chain.py).
BUDGETS = {
    "home, supervisor": 5,
    "home, admin": 13,
    "home, auditor": 6,
    "request list, admin": 7,
    "request list, supervisor": 6,
    # The searched login's requests are looked up first (one indexed query), then shown.
    "request list, searched": 8,
    "request detail": 9,
    "audit list": 11,
    "audit list, filtered": 13,
    "audit list, oldest": 12,
    "extension history": 16,
    "extension history, older": 18,
    "extension lookup": 3,
    "inventory list": 7,
    "batch page": 12,
}


# The one page that answers with a redirect by design, and where it must send the reader:
# any other redirect (to the login page, a refusal) would be a budget measured on nothing.
REDIRECTS = {"extension lookup": lambda: reverse("aliases:extension_history", args=["7000"])}


def _get(client, name: str, url: str, params: dict):
    response = client.get(url, params)
    if name in REDIRECTS:
        assert (response.status_code, response["Location"]) == (302, REDIRECTS[name]()), name
    else:
        assert response.status_code == 200, (name, response.status_code)
    return response


def _queries(client, name: str, url: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        _get(client, name, url, params)
    return len(queries)


@pytest.mark.parametrize(("name", "persona", "url", "params"), PAGES, ids=[p[0] for p in PAGES])
def test_a_hot_page_makes_the_same_few_queries_for_more_rows(
    users, simulator, client_for, django_assert_max_num_queries, name, persona, url, params
):
    client = client_for(persona)
    _grow(users, simulator, 3)
    client.get(url(), params())  # sessions, the chain head row: first-look work set aside
    few = _queries(client, name, url(), params())
    _grow(users, simulator, 6)
    many = _queries(client, name, url(), params())
    assert many == few, f"{name}: {few} queries with 3 rows, {many} with 9"
    with django_assert_max_num_queries(BUDGETS[name]):
        _get(client, name, url(), params())
