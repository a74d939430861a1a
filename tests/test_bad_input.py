"""Malformed requests get a 4xx or a form error, never a 500; forms and validators never raise."""

import os
import re
import sys
import traceback
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.signals import got_request_exception
from django.db import transaction
from django.http import QueryDict
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aliases import services
from aliases.forms import (
    AliasRequestForm,
    AuditFilterForm,
    DecisionForm,
    EventCursorForm,
    RequestSearchForm,
    SettleForm,
)
from aliases.forms_inventory import (
    AliasChangeForm,
    AliasDisableForm,
    AliasEnableForm,
    InventorySearchForm,
)
from aliases.models import AliasRequest, VicidialCall
from aliases.simulator import Fault, vicidial_filtered
from aliases.validators import parse_phone_logins, validate_alias_id, validate_alias_name

from .base import PASSWORD, submit
from .batch_helpers import CSV_HEADER, paused_batch, queued_batch, upload_batch
from .inventory_helpers import created_alias

Status = AliasRequest.Status
TEN_KB = "x" * 10 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
# VICIdial's phones_alias columns (docs: vicidial-protocol.md); a strict server refuses more.
COLUMN_WIDTHS = {"alias_id": 20, "alias_name": 50, "logins_list": 255}


# --- helpers ------------------------------------------------------------------------------


class Problems(list):
    """What went wrong across many requests, so one test reports all of it at once."""

    def check(self, response, label: str, allowed=None) -> None:
        status = response.status_code
        if status >= 500 or (allowed is not None and status not in allowed):
            self.append(f"{label}: {status}" + (f", expected {allowed}" if allowed else ""))

    def __str__(self) -> str:
        return "\n".join(["", *self])


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def problems():
    """A Problems list that also gets every exception a view lets escape, with its place."""
    found = Problems()

    def collect(sender, request=None, **kwargs):
        error = sys.exc_info()[1]
        frames = traceback.extract_tb(error.__traceback__)
        ours = [frame for frame in frames if "/aliases/" in frame.filename] or frames[-1:]
        where = " -> ".join(
            dict.fromkeys(f"{os.path.relpath(f.filename, ROOT)}:{f.lineno}" for f in ours)
        )
        line = f"  raised {type(error).__name__}: {error} ({where})"
        if line not in found:
            found.append(line)

    got_request_exception.connect(collect)
    try:
        yield found
    finally:
        got_request_exception.disconnect(collect)


def send(client: Client, method: str, url: str, body=b"", content_type=FORM_TYPE, **extra):
    """One request in its own savepoint: on PostgreSQL a failed query would poison the rest."""
    savepoint = transaction.savepoint()
    if isinstance(body, dict):
        body, content_type = encode(body), FORM_TYPE
    response = client.generic(method, url, body, content_type=content_type, **extra)
    if response.streaming:
        b"".join(response.streaming_content)
    if response.status_code >= 500:
        transaction.savepoint_rollback(savepoint)
    else:
        transaction.savepoint_commit(savepoint)
    return response


def encode(data: dict) -> bytes:
    pairs = []
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append(f"{quote(name)}={quote(str(item), safe='')}")
    return "&".join(pairs).encode()


def make_client(persona: str | None, client_for) -> Client:
    if persona is None:
        return Client(raise_request_exception=False)
    return client_for(persona, raise_request_exception=False)


def portal_routes() -> dict[str, str]:
    """URL name -> route of every portal view, from the resolver."""
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "aliases":
            return {f"aliases:{p.name}": str(p.pattern) for p in entry.url_patterns}
    raise AssertionError("the portal's URLs are not in the resolver")


def portal_url(route: str, pk: int) -> str:
    values = {"pk": str(pk), "login": "1001", "fmt": "csv"}
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda match: values[match[1]], route)


def allowed_methods(route: str) -> str:
    # The method decorators sit outermost: an anonymous PUT learns what the view takes.
    return Client().generic("PUT", portal_url(route, 1))["Allow"]


@pytest.fixture
def world(users, simulator):
    """A pending request (in a CSV upload) and an alias in the inventory; VICIdial is the
    simulator."""
    pending = submit(users["supervisor"], alias_id="pending_1")
    # /healthz caches VICIdial's answer: another test's red one must not reach this world.
    cache.clear()
    return {
        "pending": pending,
        "alias": created_alias(users, alias_id="listed_1", logins="1001"),
        "upload": upload_batch(users["supervisor"], pending),
    }


@pytest.fixture
def fuller_world(world, users, simulator):
    """Also a request whose VICIdial outcome is unknown, for retry and settle, and two bulk
    approvals whose calls wait, one queued and one paused."""
    unverified = submit(users["supervisor"], alias_id="unknown_1", logins="cc100")
    simulator.state.inject(Fault(status=500, body=""))
    services.alias_request_approve(request_id=unverified.pk, actor=users["admin"])
    return {
        **world,
        "unverified": unverified,
        "queued_batch": queued_batch(users["supervisor"], users["admin"], "queued_1"),
        "paused_batch": paused_batch(users["supervisor"], users["admin"], "paused_1"),
    }


def still_pending(world) -> bool:
    return AliasRequest.objects.get(pk=world["pending"].pk).status == Status.PENDING


ROUTES = portal_routes()


# --- wrong methods ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ROUTES))
def test_put_delete_patch_get_405_on_every_portal_url(client_for, world, name):
    url = portal_url(ROUTES[name], world["pending"].pk)
    with problems() as found:
        for persona in (None, "supervisor", "admin"):
            client = make_client(persona, client_for)
            for method in ("PUT", "DELETE", "PATCH"):
                body = {"note": "x", "done_in_vicidial": "yes"}
                response = send(client, method, url, body)
                found.check(response, f"{persona} {method} {url}", allowed=[405])
    assert not found, str(found)
    assert still_pending(world)


@pytest.mark.parametrize(
    ("persona", "name"),
    [
        (None, "login"),
        (None, "healthz"),
        (None, "healthz_live"),
        ("supervisor", "logout"),
        (None, "admin:login"),
        ("admin", "admin:logout"),
        ("admin", "admin:index"),
        ("admin", "admin:password_change"),
        ("admin", "admin:aliases_aliasrequest_changelist"),
        ("auditor", "admin:aliases_auditevent_changelist"),
    ],
)
def test_other_methods_on_django_views_never_fail(client_for, world, persona, name):
    client = make_client(persona, client_for)
    with problems() as found:
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
            body = {"username": "auditor", "password": PASSWORD, "note": "x"}
            found.check(send(client, method, reverse(name), body), f"{method} {name}")
    assert not found, str(found)
    assert still_pending(world)


# --- bad ids and formats in URLs ----------------------------------------------------------

BAD_IDS = [
    "99999999999999999999",  # beyond any integer column
    "9223372036854775808",  # one past bigint
    "9223372036854775807",
    "18446744073709551616",
    "0",
    "abc",
    "-1",
    "1.5",
    "1e3",
    "+1",
    "%00",
    "1%00",
    "%20",
    quote("١٢"),  # Arabic-Indic digits, which \d would take
    "1;DROP TABLE x",
]
BY_ID = {
    "aliases:request_detail": ("GET", ["supervisor", "admin", "auditor"]),
    "aliases:request_approve": ("POST", ["admin"]),
    "aliases:request_reject": ("POST", ["admin"]),
    "aliases:request_cancel": ("POST", ["supervisor"]),
    "aliases:request_retry": ("POST", ["admin"]),
    "aliases:request_settle": ("POST", ["admin"]),
    "aliases:request_verify_db": ("POST", ["admin"]),
    "aliases:alias_detail": ("GET", ["supervisor", "admin", "auditor"]),
    "aliases:alias_change": ("POST", ["supervisor", "admin"]),
    "aliases:alias_disable": ("POST", ["supervisor", "admin"]),
    "aliases:alias_enable": ("POST", ["supervisor", "admin"]),
    "aliases:batch_detail": ("GET", ["supervisor", "admin", "auditor"]),
    "aliases:batch_pause": ("POST", ["admin"]),
    "aliases:batch_resume": ("POST", ["admin"]),
    "aliases:batch_withdraw": ("POST", ["admin"]),
    "aliases:batch_approve": ("POST", ["admin"]),
}


def test_every_portal_url_with_an_id_is_covered():
    with_id = {name for name, route in ROUTES.items() if "<int:pk>" in route}
    assert with_id == set(BY_ID), "add the new URL to BY_ID in tests/test_bad_input.py"


@pytest.mark.parametrize("name", list(BY_ID))
def test_bad_ids_in_portal_urls_are_404(client_for, world, name):
    method, personas = BY_ID[name]
    # An id no request has yet, then ids no request can have.
    missing = AliasRequest.objects.order_by("-pk").first().pk + 1000
    with problems() as found:
        for persona in personas:
            client = make_client(persona, client_for)
            for bad in [str(missing), *BAD_IDS]:
                url = "/" + ROUTES[name].replace("<int:pk>", bad)
                response = send(client, method, url, {"note": "x", "done_in_vicidial": "yes"})
                found.check(response, f"{persona} {method} {url}", allowed=[404])
    assert not found, str(found)
    assert still_pending(world)


ADMIN_BAD_IDS = ["99999999999999999999", "abc", "%00", "1;DROP TABLE x"]


@pytest.mark.parametrize(
    "model",
    ["aliasrequest", "requestbatch", "vicidialcall", "extension", "auditevent", "user", "group"],
)
def test_bad_ids_in_admin_urls_never_fail(client_for, world, model):
    app = "auth" if model in ("user", "group") else "aliases"
    client = make_client("admin", client_for)
    with problems() as found:
        for bad in ADMIN_BAD_IDS:
            for method, suffix in [
                ("GET", ""),
                ("GET", "change/"),
                ("GET", "history/"),
                ("GET", "delete/"),
                ("POST", "change/"),
                ("POST", "delete/"),
            ]:
                url = f"/admin/{app}/{model}/{bad}/{suffix}"
                found.check(send(client, method, url, {"post": "yes"}), f"{method} {url}")
    assert not found, str(found)


def test_a_refusal_is_a_403_whatever_the_path_or_headers_hold(client_for, world):
    """Every 403 is written to the audit trail, with the path and the user agent."""
    supervisor = make_client("supervisor", client_for)
    with problems() as found:
        for url in ["/extensions/%00/", "/extensions/a%00b/", "/audit/export.%00", "/audit/"]:
            found.check(send(supervisor, "GET", url), f"GET {url}", allowed=[403])
        for agent in ["a\x00b", TEN_KB, "\r\nX-Forged: 1"]:
            response = send(supervisor, "GET", "/audit/", HTTP_USER_AGENT=agent)
            found.check(response, f"GET /audit/ with User-Agent {agent[:12]!r}", allowed=[403])
    assert not found, str(found)


FORMATS = ["CSV", "xml", "json", "csv.", "csv%00", "..%2F..%2Fsettings", "c" * 1000, "%ff"]


def test_unknown_export_formats_are_404(client_for, world):
    auditor = make_client("auditor", client_for)
    with problems() as found:
        for fmt in [*FORMATS, "jsonl%20"]:
            found.check(send(auditor, "GET", f"/audit/export.{fmt}"), fmt, allowed=[404])
        for url in ["/audit/export.", "/audit/export", "/audit/export.csv/"]:
            found.check(send(auditor, "GET", url), url, allowed=[404])
    assert not found, str(found)


@pytest.mark.parametrize(
    "login",
    [
        "a" * 100,
        "a" * 101,  # longer than the audit trail's extension column
        "a" * 10 * 1024,
        "%00",
        "..",
        "%2e%2e",
        "1001%0a",
        quote("<script>"),
        quote("é"),
        "%ff%fe",
    ],
)
def test_extension_history_never_fails_whatever_the_login(client_for, world, login):
    auditor = make_client("auditor", client_for)
    with problems() as found:
        response = send(auditor, "GET", f"/extensions/{login}/")
        found.check(response, "the history page", allowed=[200, 404])
        # The lookup form takes the login from the query string and redirects to the page;
        # a NUL in any query value is refused up front with 400.
        response = send(auditor, "GET", f"/extensions/?login={login}")
        found.check(response, "the lookup", allowed=[400] if "%00" in login else [302])
        if response.status_code == 302:
            response = send(auditor, "GET", response["Location"])
            found.check(response, "the page it redirects to", allowed=[200, 404])
    assert not found, str(found)


# --- garbage posted to every form view ----------------------------------------------------

FORM_VIEWS = {
    # name: (persona, object in `world`, valid-looking fields)
    "aliases:request_new": (
        "supervisor",
        None,
        {
            "alias_id": "garbage_1",
            "alias_name": "Garbage",
            "phone_logins": "1001",
            "justification": "x",
            "submission_token": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        },
    ),
    # A file sent as a plain field; garbage files: test_garbage_files_uploaded_never_fail.
    "aliases:request_upload": (
        "supervisor",
        None,
        {"file": "kind,alias_id\r\nadd,garbage_1", "all_or_nothing": "on"},
    ),
    "aliases:request_approve": ("admin", "pending", {"note": "ok"}),
    "aliases:requests_approve_selected": ("admin", None, {"note": "ok", "request": "PENDING"}),
    "aliases:batch_approve": ("admin", "upload", {"note": "ok"}),
    "aliases:batch_pause": ("admin", "queued_batch", {}),
    "aliases:batch_resume": ("admin", "paused_batch", {}),
    "aliases:batch_withdraw": ("admin", "paused_batch", {"note": "not needed"}),
    "aliases:request_reject": ("admin", "pending", {"note": "no"}),
    "aliases:request_cancel": ("supervisor", "pending", {}),
    "aliases:request_retry": ("admin", "unverified", {"note": "again"}),
    "aliases:request_settle": ("admin", "unverified", {"done_in_vicidial": "no", "note": "x"}),
    "aliases:request_verify_db": ("admin", "unverified", {}),
    "aliases:vicidial_resume": ("admin", None, {}),
    "aliases:drift_adopt": ("admin", None, {"server": "default", "alias_id": "garbage_1"}),
    "aliases:alias_change": (
        "supervisor",
        "alias",
        {
            "alias_name": "Garbage",
            "phone_logins": "1001,1002",
            "justification": "x",
            "submission_token": "1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "from_vicidial": "True",
        },
    ),
    "aliases:alias_disable": (
        "admin",
        "alias",
        {"justification": "x", "submission_token": "2f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
    ),
    "aliases:alias_enable": (
        "supervisor",
        "alias",
        {"justification": "x", "submission_token": "3f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
    ),
    "login": (None, None, {"username": "auditor", "password": "not the password"}),
    "logout": ("supervisor", None, {}),
    "admin:login": (None, None, {"username": "auditor", "password": "not the password"}),
    "admin:password_change": (
        "auditor",
        None,
        {"old_password": "wrong", "new_password1": "a", "new_password2": "b"},
    ),
    "admin:aliases_aliasrequest_changelist": (
        "admin",
        None,
        {"action": "reject_selected", "apply": "1", "note": "", ACTION_CHECKBOX_NAME: "PENDING"},
    ),
}


def garbage_bodies(fields: dict) -> list[tuple[str, str, bytes | dict]]:
    """(label, content type, body) for one form."""
    names = list(fields) or ["x"]
    bodies = [
        ("empty", FORM_TYPE, b""),
        ("10 kB in every field", FORM_TYPE, dict.fromkeys(names, TEN_KB)),
        ("NUL in every field", FORM_TYPE, dict.fromkeys(names, "a\x00b")),
        ("two values per field", FORM_TYPE, {name: ["1", "2"] for name in names}),
        ("invalid UTF-8", FORM_TYPE, b"&".join(f.encode() + b"=%ff%fe%c3%28" for f in names)),
        ("binary", "application/octet-stream", bytes(range(256)) * 40),
        ("binary as a form", FORM_TYPE, bytes(range(256)) * 4),
        ("JSON", "application/json", b'{"note": ["x"], "alias_id": {"$ne": 1}}'),
        ("text", "text/plain", b"note=x\r\n\x00"),
        ("broken multipart", "multipart/form-data; boundary=xyz", b"--xyz\r\ngarbage"),
        ("multipart without boundary", "multipart/form-data", b"garbage"),
        ("1,500 fields", FORM_TYPE, b"&".join(b"f%d=1" % i for i in range(1500))),
        ("unknown charset", f"{FORM_TYPE}; charset=nope-8", b"note=x"),
    ]
    for missing in fields:
        rest = {name: value for name, value in fields.items() if name != missing}
        bodies.append((f"without {missing}", FORM_TYPE, rest))
    return bodies


def test_every_state_changing_portal_view_gets_garbage():
    posting = {name for name, route in ROUTES.items() if "POST" in allowed_methods(route)}
    assert posting - set(FORM_VIEWS) == set(), "add the view to FORM_VIEWS"


@pytest.mark.parametrize("name", list(FORM_VIEWS))
def test_garbage_posted_to_form_views_never_fails(client_for, fuller_world, name):
    world = fuller_world
    persona, target, fields = FORM_VIEWS[name]
    url = reverse(name, args=[world[target].pk] if target else [])
    pending = str(world["pending"].pk)
    fields = {key: pending if value == "PENDING" else value for key, value in fields.items()}
    client = make_client(persona, client_for)
    with problems() as found:
        for label, content_type, body in garbage_bodies(fields):
            if name == "logout":
                client = make_client(persona, client_for)  # the last one may have worked
            found.check(send(client, "POST", url, body, content_type), label)
    assert not found, str(found)


GOOD_ROW = b"add,garbage_1,Garbage,1001,Why."
# (label, file name, content): each is uploaded all or nothing, then row by row.
GARBAGE_FILES = [
    ("binary", b"requests.csv", bytes(range(256)) * 40),
    (
        "NUL in the cells",
        b"requests.csv",
        CSV_HEADER
        + b"add,nul_\x001,Na\x00me,10\x0001,W\x00hy.\r\n"
        + b"change,listed_1,Na\x00me,1001,Why.\r\n"
        + b"add,nul_3,Name,1001,W\x00hy.\r\n"
        + b"\x00dd,nul_4,Name,1001,Why.",
    ),
    ("NUL in the header", b"requests.csv", b"ki\x00nd," + CSV_HEADER + GOOD_ROW),
    ("10 kB in every cell", b"requests.csv", CSV_HEADER + b",".join([TEN_KB.encode()] * 5)),
    ("1,000 columns", b"requests.csv", CSV_HEADER + b",".join([b"x"] * 1000)),
    ("a quote never closed", b"requests.csv", CSV_HEADER + b'add,"quoted_1,Q,1001,x\r\n' * 3),
    ("invalid UTF-8 in a row", b"requests.csv", CSV_HEADER + GOOD_ROW + b"\xff\xfe\xc3\x28"),
    (
        "line breaks inside cells",
        b"requests.csv",
        CSV_HEADER + "add,a\u2028b,N\x85m,1001,\u000bx".encode(),
    ),
    ("carriage returns only", b"requests.csv", CSV_HEADER.replace(b"\r\n", b"\r") + GOOD_ROW),
    ("a BOM only", b"requests.csv", b"\xef\xbb\xbf"),
    ("a formula", b"requests.csv", CSV_HEADER + b"add,=cmd|' /C calc'!A0,=1+1,@SUM(1),-2+3"),
    ("a 300-character name", b"r" * 296 + b".csv", CSV_HEADER + GOOD_ROW),
    ("a NUL in the name", b"req\x00uests.csv", CSV_HEADER + GOOD_ROW),
    ("a path as the name", b"../../etc/passwd", CSV_HEADER + GOOD_ROW),
    ("no name", b"", CSV_HEADER + GOOD_ROW),
    ("invalid UTF-8 in the name", b"\xff\xfe.csv", CSV_HEADER + GOOD_ROW),
    ("a row too long for the columns", b"requests.csv", CSV_HEADER + b"add," + b"a" * 100 * 1024),
]


BOUNDARY = "garbage-boundary"


def multipart(filename: bytes, content: bytes, all_or_nothing: bool) -> bytes:
    """The upload form as a browser sends it, the file name written as given."""
    parts = [
        b'Content-Disposition: form-data; name="file"; filename="%s"\r\n'
        b"Content-Type: text/csv\r\n\r\n%s" % (filename, content)
    ]
    if all_or_nothing:
        parts.append(b'Content-Disposition: form-data; name="all_or_nothing"\r\n\r\non')
    separator = b"--%s\r\n" % BOUNDARY.encode()
    body = b"".join(separator + part + b"\r\n" for part in parts)
    return body + b"--%s--\r\n" % BOUNDARY.encode()


@pytest.mark.parametrize(
    ("name", "content"),
    [(name, content) for _, name, content in GARBAGE_FILES],
    ids=[label for label, _, _ in GARBAGE_FILES],
)
def test_garbage_files_uploaded_never_fail(client_for, world, name, content):
    """The upload answers any file with its page and what was wrong, or with the batch it
    made: never an error page."""
    supervisor = make_client("supervisor", client_for)
    url = reverse("aliases:request_upload")
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    with problems() as found:
        for all_or_nothing in (True, False):
            body = multipart(name, content, all_or_nothing)
            response = send(supervisor, "POST", url, body, content_type)
            label = "all or nothing" if all_or_nothing else "row by row"
            found.check(response, label, allowed=[200, 302])
    assert not found, str(found)
    assert still_pending(world)


ADMIN_ACTION_IDS = ["abc", "99999999999999999999", "-1", "", "1.5", "%00", "1,2"]


@pytest.mark.parametrize("action", ["reject_selected", "approve_selected"])
def test_admin_actions_with_bad_selected_ids_never_fail(client_for, world, action):
    url = reverse("admin:aliases_aliasrequest_changelist")
    admin = make_client("admin", client_for)
    with problems() as found:
        for bad in ADMIN_ACTION_IDS:
            for apply in ({}, {"apply": "1", "note": "n"}):
                body = {"action": action, ACTION_CHECKBOX_NAME: [bad], **apply}
                found.check(send(admin, "POST", url, body), f"{ACTION_CHECKBOX_NAME}={bad!r}")
    assert not found, str(found)
    assert still_pending(world)


def reject_in_admin(client_for, alias_request, note: str):
    body = {
        "action": "reject_selected",
        "apply": "1",
        "note": note,
        ACTION_CHECKBOX_NAME: [alias_request.pk],
    }
    url = reverse("admin:aliases_aliasrequest_changelist")
    return send(make_client("admin", client_for), "POST", url, body)


@pytest.mark.parametrize("note", ["a\x00b", "x" * 2001], ids=["NUL", "2001 characters"])
def test_admin_action_note_is_checked_like_the_portal_form(client_for, world, note):
    """The portal's DecisionForm refuses this note; rejecting in the admin must refuse it too."""
    assert not DecisionForm(data={"note": note}).is_valid()
    pending = world["pending"]
    with problems() as found:
        found.check(reject_in_admin(client_for, pending, note), f"note {note!r:.20}")
    assert not found, str(found)
    pending.refresh_from_db()
    assert (pending.status, pending.decision_note) == (Status.PENDING, "")


def test_login_with_an_oversized_username_is_a_plain_failure(db, users):
    anonymous = make_client(None, None)
    with problems() as found:
        for name in ("login", "admin:login"):
            for username in ("a" * 151, "a" * 256, TEN_KB):
                response = send(
                    anonymous, "POST", reverse(name), {"username": username, "password": "x"}
                )
                found.check(response, f"{name}, {len(username)} characters", allowed=[200])
        body = {"username": "auditor", "password": "x"}
        response = send(anonymous, "POST", reverse("login"), body, HTTP_USER_AGENT=TEN_KB)
        found.check(response, "login, 10 kB user agent", allowed=[200])
    assert not found, str(found)


# --- garbage in the query string of every GET page ----------------------------------------

AUDIT_FILTERS = ["extension", "alias_id", "actor", "correlation_id", "event_type", "outcome"]
GET_PAGES = {
    # name: (persona, filter fields the page reads)
    "aliases:home": ("admin", ["page"]),
    "aliases:request_new": ("supervisor", ["alias_id", "page"]),
    "aliases:request_upload": ("supervisor", ["page"]),
    "aliases:request_upload_template": ("supervisor", ["page"]),
    "aliases:request_list": ("auditor", ["alias_id", "login", "status", "page"]),
    "aliases:request_detail": ("auditor", ["page"]),
    "aliases:audit_list": ("auditor", [*AUDIT_FILTERS, "since", "until", "before", "after"]),
    "aliases:audit_export": ("auditor", [*AUDIT_FILTERS, "since", "until"]),
    "aliases:extension_lookup": ("auditor", ["login"]),
    "aliases:extension_history": ("admin", ["before", "after"]),
    "aliases:inventory": ("auditor", ["alias_id", "login", "state", "server", "page"]),
    "aliases:alias_detail": ("supervisor", ["page"]),
    "aliases:alias_change": ("supervisor", ["alias_name", "phone_logins", "from_vicidial"]),
    "aliases:alias_disable": ("admin", ["page"]),
    "aliases:alias_enable": ("supervisor", ["page"]),
    "aliases:batch_detail": ("auditor", ["page"]),
    "aliases:drift": ("auditor", ["server"]),
    # Public, and answered ahead of every other middleware (RejectNulMiddleware included).
    "healthz": (None, ["page", "format"]),
    "healthz_live": (None, ["page", "format"]),
    "admin:aliases_alias_changelist": (
        "admin",
        ["q", "o", "p", "server__exact", "state__exact", "origin__exact"],
    ),
    "admin:aliases_aliasrequest_changelist": (
        "admin",
        ["q", "o", "p", "e", "_facets", "all", "status__exact", "created_at__gte"]
        + ["created_at__lt", "decided_at__isnull", "created_at__year", "created_at__month"]
        + ["created_at__day", "requester__id__exact"],
    ),
    "admin:aliases_requestbatch_changelist": (
        "auditor",
        ["q", "o", "p", "kind__exact", "created_at__gte", "created_at__year", "created_at__month"],
    ),
    "admin:aliases_vicidialcall_changelist": (
        "admin",
        ["q", "o", "p", "result__exact", "function__exact", "started_at__gte"],
    ),
    "admin:aliases_extension_changelist": (
        "auditor",
        ["q", "o", "p", "protocol__exact", "known_to_vicidial__exact"],
    ),
    "admin:aliases_auditevent_changelist": (
        "auditor",
        ["q", "o", "p", "event_type__exact", "outcome__exact", "occurred_at__gte"]
        + ["occurred_at__year", "occurred_at__month"],
    ),
}
# Each goes into every field at once; the first ONE_FIELD_AT_A_TIME also into one field at a
# time: one invalid field makes a form drop all its filters, hiding what another one does.
NASTY_VALUES = [
    TEN_KB,
    "a\x00b",
    "a/b<script>alert(1)</script>",
    "99999999999999999999999999",
    "-1",
    "0000-00-00",
    "%ff%fe",
    "99999-12-31",
    "0001-01-01",
    "' OR 1=1 --",
    "\r\nSet-Cookie: x=1",
]
ONE_FIELD_AT_A_TIME = 3
# The object in `world` a GET page's <pk> names, if not the pending request.
PAGE_TARGETS = {
    "aliases:alias_detail": "alias",
    "aliases:alias_change": "alias",
    "aliases:alias_disable": "alias",
    "aliases:alias_enable": "alias",
    "aliases:batch_detail": "upload",
}


def test_every_portal_get_page_gets_garbage():
    get_pages = {name for name, route in ROUTES.items() if "GET" in allowed_methods(route)}
    assert get_pages - set(GET_PAGES) == set(), "add the page to GET_PAGES"


@pytest.mark.parametrize("name", list(GET_PAGES))
def test_garbage_in_query_strings_never_fails(client_for, world, name):
    persona, fields = GET_PAGES[name]
    route = ROUTES.get(name)
    url = portal_url(route, world[PAGE_TARGETS.get(name, "pending")].pk) if route else reverse(name)
    client = make_client(persona, client_for)
    queries = [
        "&".join(f"f{i}=1" for i in range(1500)),
        "x=" + "y" * 60 * 1024,
        "%ff%fe=%ff",
        "&&&==&=",
    ]
    for position, value in enumerate(NASTY_VALUES):
        encoded = value if value.startswith("%") else quote(value, safe="")
        queries.append("&".join(f"{field}={encoded}" for field in fields))
        if position < ONE_FIELD_AT_A_TIME:
            queries.extend(f"{field}={encoded}" for field in fields)
    with problems() as found:
        for query in queries:
            response = send(client, "GET", f"{url}?{query}")
            found.check(response, f"?{query[:70]}")
            assert "x" not in response.cookies
    assert not found, str(found)


@pytest.mark.parametrize("page", ["aliases:audit_list", "admin:aliases_auditevent_changelist"])
def test_a_filter_value_does_not_break_the_audit_pages_for_good(client_for, world, page):
    """Every look at the trail is recorded with its filters, and later shown: whatever an
    auditor typed as a filter must not make the trail unreadable for everybody afterwards."""
    auditor = make_client("auditor", client_for)
    with problems() as found:
        for extension in ["a/b", "<script>alert(1)</script>"]:
            url = reverse("aliases:audit_list") + f"?extension={quote(extension)}"
            found.check(send(auditor, "GET", url), f"filter {extension!r}")
        response = send(make_client("admin", client_for), "GET", reverse(page))
        found.check(response, f"{page} afterwards", allowed=[200])
    assert not found, str(found)


# --- hypothesis: forms and validators -----------------------------------------------------

# Mostly what VICIdial keeps, plus the characters it deletes and a few Unicode traps.
NEAR_MISS = st.sampled_from(
    list("aZ09_-, .+:/@")
    + ["!", "&", '"', "'", "é", "\t", "\n", "\r", "\x00", "İ", "ß", "ſ", "K", "０", "\u00a0"]
    + ["\u2028", "\x85", "\x1c", "\u200b", "%", "|", "\\"]
)
TEXT = st.one_of(st.text(max_size=80), st.text(NEAR_MISS, max_size=60))
FORMS = [
    AliasRequestForm,
    DecisionForm,
    SettleForm,
    AuditFilterForm,
    EventCursorForm,
    RequestSearchForm,
    InventorySearchForm,
    AliasChangeForm,
    AliasDisableForm,
    AliasEnableForm,
]
FIELD_NAMES = sorted({name for form in FORMS for name in form.base_fields} | {"page", ""})


def query_dict(pairs: list[tuple[str, str]]) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in pairs:
        data.appendlist(key, value)
    return data


field_names = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10))
form_data = st.lists(st.tuples(field_names, TEXT), max_size=10).map(query_dict)


@pytest.mark.parametrize("form_class", FORMS, ids=lambda form: form.__name__)
@settings(max_examples=100, deadline=None)
@given(data=form_data)
@example(data=query_dict([("since", "99999-01-01"), ("until", "0000-00-00")]))
@example(data=query_dict([("submission_token", "{" + str(uuid.uuid4()) + "}")]))
def test_forms_validate_or_report_errors_never_raise(form_class, data):
    form = form_class(data=data)
    valid = form.is_valid()
    assert valid is (not form.errors)
    if isinstance(form, AuditFilterForm):
        assert isinstance(form.active_filters(), dict)


def survives_vicidial(name: str, value: str) -> bool:
    return vicidial_filtered(name, value) == value


@settings(max_examples=200)
@given(value=TEXT)
@example(value="xyz100")
@example(value="ab\x00")
def test_accepted_alias_ids_are_stored_by_vicidial_unchanged(value):
    try:
        validate_alias_id(value)
    except ValidationError:
        return
    assert survives_vicidial("alias_id", value)
    assert 2 <= len(value) <= COLUMN_WIDTHS["alias_id"]


@settings(max_examples=200)
@given(value=TEXT)
@example(value="XYZ testing")
@example(value="A&B")
def test_accepted_alias_names_are_stored_by_vicidial_unchanged(value):
    try:
        validate_alias_name(value)
    except ValidationError:
        return
    assert survives_vicidial("alias_name", value)
    # VICIdial's update insists on 2 to 50 characters, its column holds 50.
    assert 2 <= len(value) <= COLUMN_WIDTHS["alias_name"]


@settings(max_examples=200)
@given(value=st.one_of(TEXT, st.lists(TEXT, max_size=5).map(",".join)))
@example(value="cc100, bb100")
@example(value="cc100,\u00a0bb100\u2028")
def test_accepted_phone_logins_are_stored_by_vicidial_unchanged(value):
    try:
        logins = parse_phone_logins(value)
    except ValidationError:
        return
    assert logins
    for login in logins:
        assert login and "," not in login
        assert survives_vicidial("phone_logins", login)
    joined = ",".join(logins)
    assert survives_vicidial("phone_logins", joined)
    assert 2 <= len(joined) <= COLUMN_WIDTHS["logins_list"]


@settings(max_examples=200, deadline=None)
@given(alias_id=TEXT, alias_name=TEXT, phone_logins=TEXT)
@example(alias_id=" xyz100\u00a0", alias_name="XYZ testing", phone_logins="cc100")
def test_what_the_request_form_accepts_reaches_vicidial_unchanged(
    alias_id, alias_name, phone_logins
):
    data = {
        "alias_id": alias_id,
        "alias_name": alias_name,
        "phone_logins": phone_logins,
        "justification": "x",
        "submission_token": str(uuid.uuid4()),
    }
    form = AliasRequestForm(data=data)
    if not form.is_valid():
        return
    cleaned = form.cleaned_data
    assert survives_vicidial("alias_id", cleaned["alias_id"])
    assert survives_vicidial("alias_name", cleaned["alias_name"])
    assert survives_vicidial("phone_logins", ",".join(cleaned["phone_logins"]))


# --- hypothesis: the same, over HTTP ------------------------------------------------------

HTTP_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
pairs = st.lists(st.tuples(field_names, TEXT), max_size=10)


@contextmanager
def undone():
    """Each example starts from the same database: what one leaves behind must not make the
    next one fail, or hypothesis could not replay a failure on its own."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@HTTP_SETTINGS
@given(fields=pairs)
def test_any_new_request_post_is_answered_without_error(client_for, fields):
    body = "&".join(f"{quote(key)}={quote(value, safe='')}" for key, value in fields)
    with undone(), problems() as found:
        supervisor = make_client("supervisor", client_for)
        response = send(supervisor, "POST", reverse("aliases:request_new"), body.encode())
        # A NUL anywhere is refused up front with 400 (PostgreSQL text cannot hold it).
        nul = any("\x00" in key + value for key, value in fields)
        found.check(response, f"POST {fields!r:.200}", allowed=[400] if nul else [200, 302])
    assert not found, str(found)


@HTTP_SETTINGS
@given(fields=pairs, page=st.sampled_from(["aliases:request_list", "aliases:audit_list"]))
def test_any_filter_query_is_answered_without_error(client_for, fields, page):
    query = "&".join(f"{quote(key)}={quote(value, safe='')}" for key, value in fields)
    with undone(), problems() as found:
        auditor = make_client("auditor", client_for)
        response = send(auditor, "GET", f"{reverse(page)}?{query}")
        nul = any("\x00" in key + value for key, value in fields)
        found.check(response, f"GET {page}?{query:.200}", allowed=[400] if nul else [200])
    assert not found, str(found)
    assert not VicidialCall.objects.exists()
