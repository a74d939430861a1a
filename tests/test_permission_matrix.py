"""Every URL the resolver knows, for every role and both methods, against an explicit table.

A new URL pattern fails `test_permission_matrix` until someone writes down who may use it.
"""

import re
import uuid

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from aliases.models import (
    Alias,
    AliasRequest,
    AuditDigest,
    AuditEvent,
    Extension,
    RequestBatch,
    VicidialCall,
    VicidialCircuit,
)

from .base import submit
from .batch_helpers import csv_upload, upload_batch
from .inventory_helpers import adopted_alias

PERSONAS = ("anonymous", "supervisor", "admin", "auditor", "outsider")

# Keyword classes; an int is that exact status.
LOGIN = "302 to the portal login"
ADM_LOGIN = "302 to the admin login"
MOVED = "302 elsewhere"
FORM = "200, the form shown again"
IGNORED = "200, the POST is ignored"
LOGGED_OUT = "302 to the login page, session ended"
# 503 when this test's VICIdial (none: settings_test's dead address) or its database is down.
HEALTH = "200 or 503, the JSON health answer"
# Outcomes that must leave the database as it was; their POSTs carry valid-looking data.
REFUSALS = {LOGIN, ADM_LOGIN, IGNORED, 403, 404, 405}


def everyone(cell):
    return (cell,) * len(PERSONAS)


def staff_only(admin, auditor, others=(ADM_LOGIN, ADM_LOGIN)):
    """A Django admin row: (GET, POST) for admin and auditor; everyone without is_staff is
    sent to the admin login."""
    return (others, others, admin, auditor, others)


# fmt: off
# Each row: (GET, POST) for anonymous, supervisor, admin, auditor, outsider (logged in, no role).
PORTAL = {
    # aliases:...         anonymous       supervisor    admin         auditor       outsider
    "home":              ((LOGIN, 405),  (200, 405),   (200, 405),   (200, 405),   (403, 405)),
    "request_list":      ((LOGIN, 405),  (200, 405),   (200, 405),   (200, 405),   (403, 405)),
    "request_new":       ((LOGIN, LOGIN), (200, FORM),  (200, FORM),  (403, 403),   (403, 403)),
    "request_upload":    ((LOGIN, LOGIN), (200, FORM),  (200, FORM),  (403, 403),   (403, 403)),
    "request_upload_template": ((LOGIN, 405), (200, 405), (200, 405), (403, 405), (403, 405)),
    "request_detail":    ((LOGIN, 405),  (200, 405),   (200, 405),   (200, 405),   (404, 405)),
    "request_approve":   ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "request_reject":    ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "request_cancel":    ((405, LOGIN),  (405, MOVED), (405, 403),   (405, 403),   (405, 403)),
    "request_retry":     ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "request_settle":    ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "request_verify_db": ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "vicidial_resume":   ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "requests_approve_selected": ((405, LOGIN), (405, 403), (405, MOVED), (405, 403), (405, 403)),
    # The batch is the supervisor's upload: an outsider sees no batch, as no request.
    "batch_detail":      ((LOGIN, 405),  (200, 405),   (200, 405),   (200, 405),   (404, 405)),
    "batch_pause":       ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "batch_resume":      ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "batch_withdraw":    ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "batch_approve":     ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
    "audit_list":        ((LOGIN, 405),  (403, 405),   (200, 405),   (200, 405),   (403, 405)),
    "audit_export":      ((LOGIN, 405),  (403, 405),   (403, 405),   (200, 405),   (403, 405)),
    "extension_lookup":  ((LOGIN, 405),  (403, 405),   (MOVED, 405), (MOVED, 405), (403, 405)),
    "extension_history": ((LOGIN, 405),  (403, 405),   (200, 405),   (200, 405),   (403, 405)),
    "inventory":         ((LOGIN, 405),  (200, 405),   (200, 405),   (200, 405),   (403, 405)),
    "alias_detail":      ((LOGIN, 405),  (200, 405),   (200, 405),   (200, 405),   (403, 405)),
    "alias_change":      ((LOGIN, LOGIN), (200, FORM),  (200, FORM),  (403, 403),   (403, 403)),
    "alias_disable":     ((LOGIN, LOGIN), (200, FORM),  (200, FORM),  (403, 403),   (403, 403)),
    "alias_enable":      ((LOGIN, LOGIN), (200, FORM),  (200, FORM),  (403, 403),   (403, 403)),
    "drift":             ((LOGIN, 405),  (403, 405),   (200, 405),   (200, 405),   (403, 405)),
    "drift_adopt":       ((405, LOGIN),  (405, 403),   (405, MOVED), (405, 403),   (405, 403)),
}
EXPECTED = {
    **{f"aliases:{name}": row for name, row in PORTAL.items()},
    "login":                      everyone((200, FORM)),
    "logout":                     everyone((405, LOGGED_OUT)),
    # A permanent redirect to the static icon, for browsers that ask for /favicon.ico.
    "favicon.ico":                everyone((301, 301)),
    # For load balancers and Docker's HEALTHCHECK: no login, read only (GET and HEAD).
    "healthz":                    everyone((HEALTH, 405)),
    "healthz_live":               everyone((HEALTH, 405)),
    # The Django admin site itself.
    "admin:index":                staff_only((200, IGNORED), (200, IGNORED)),
    "admin:login":                staff_only((MOVED, FORM), (MOVED, FORM), others=(200, FORM)),
    # Without staff rights, logging out of the admin sends you to its index first.
    "admin:logout":               staff_only((405, LOGGED_OUT), (405, LOGGED_OUT), (MOVED, MOVED)),
    "admin:password_change":      staff_only((200, FORM), (200, FORM)),
    "admin:password_change_done": staff_only((200, 405), (200, 405)),
    "admin:autocomplete":         staff_only((403, 405), (403, 405)),
    "admin:jsi18n":               staff_only((200, 405), (200, 405)),
    # No portal model has get_absolute_url, so "view on site" finds nothing for anyone.
    "admin:view_on_site":         staff_only((404, 404), (404, 404)),
    "admin:app_list aliases":     staff_only((200, IGNORED), (200, IGNORED)),
    "admin:app_list auth":        staff_only((404, 404), (404, 404)),
    "admin:app_list axes":        staff_only((404, 404), (404, 404)),
    "admin:app_list django_tasks_database": staff_only((404, 404), (404, 404)),
    "admin/(?P<url>.*)$":         staff_only((404, 404), (404, 404)),
    # Adopting from VICIdial: admins (may_adopt); auditors only read the inventory.
    "admin:aliases_alias_adopt":  staff_only((200, FORM), (403, 403)),
}

# The per-model admin URLs follow one rule per kind of model admin.
ADMIN_MODELS = {
    "aliases.alias": "read_only",
    "aliases.aliasrequest": "read_only_with_actions",
    "aliases.vicidialcall": "read_only",
    "aliases.extension": "read_only",
    "aliases.auditevent": "read_only",
    "aliases.auditdigest": "read_only",
    "aliases.requestbatch": "read_only",
    # Portal roles hold no permission on these: staff reach the admin, but not them.
    "auth.user": "no_access",
    "auth.group": "no_access",
    "axes.accessattempt": "no_access",
    "axes.accesslog": "no_access",
    "axes.accessfailurelog": "no_access",
    # The task queue: operators' business (manage.py prune_db_task_results), not a role's.
    "django_tasks_database.dbtaskresult": "no_access",
}
DENIED = staff_only((403, 403), (403, 403))
READ_ONLY = {
    # Staff with the view permission read; ReadOnlyAdminMixin refuses add, change, delete.
    "changelist": staff_only((200, IGNORED), (200, IGNORED)),
    "add":        DENIED,
    "change":     staff_only((200, 403), (200, 403)),
    "history":    staff_only((200, IGNORED), (200, IGNORED)),
    "delete":     DENIED,
    "redirect":   staff_only((MOVED, MOVED), (MOVED, MOVED)),
}
ADMIN_RULES = {
    "read_only": READ_ONLY,
    # Admins run approve/reject actions; auditors have no action, so their POST does nothing.
    "read_only_with_actions": {
        **READ_ONLY,
        "changelist": staff_only((200, MOVED), (200, IGNORED)),
    },
    "no_access": {
        "changelist": DENIED,
        "add":        DENIED,
        "change":     DENIED,
        "history":    DENIED,
        "delete":     DENIED,
        "password":   DENIED,
        # Django redirects /<id>/ to /<id>/change/ before it looks at permissions.
        "redirect":   staff_only((MOVED, MOVED), (MOVED, MOVED)),
    },
}
# fmt: on

ADMIN_MODEL_ROUTE = re.compile(r"admin/(?P<app>\w+)/(?P<model>\w+)/(?P<rest>.*)")
ADMIN_MODEL_KINDS = {
    "": "changelist",
    "add/": "add",
    "<path:object_id>/history/": "history",
    "<path:object_id>/delete/": "delete",
    "<path:object_id>/change/": "change",
    "<path:object_id>/": "redirect",
    "<id>/password/": "password",
}
APP_LIST_ROUTE = re.compile(r"\(\?P<app_label>(?P<labels>[\w|]+)\)")
PLACEHOLDER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")


def url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    """(route, name) of every pattern, the admin's included; name is None when unnamed."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace]))
            yield from url_patterns(entry, route, inner)
        elif entry.name:
            yield route, f"{namespace}:{entry.name}" if namespace else entry.name
        else:
            yield route, None


def table_keys() -> list[tuple[str, str]]:
    """(key, route): the key is the pattern name, or the route for unnamed patterns."""
    keys = []
    for route, name in url_patterns():
        key = name or route
        app_list = APP_LIST_ROUTE.search(route)
        if app_list:
            keys.extend((f"{key} {label}", route) for label in app_list["labels"].split("|"))
        else:
            keys.append((key, route))
    return keys


def admin_model_of(route: str):
    """The (model label, kind) of a per-model admin route, else None."""
    match = ADMIN_MODEL_ROUTE.fullmatch(route)
    if not match or match["rest"] not in ADMIN_MODEL_KINDS:
        return None
    try:
        model = apps.get_model(match["app"], match["model"])
    except LookupError:
        return None
    return model._meta.label_lower, ADMIN_MODEL_KINDS[match["rest"]]


def expectation(key: str, route: str):
    if key in EXPECTED:
        return EXPECTED[key]
    found = admin_model_of(route)
    if found is None:
        return None
    label, kind = found
    rule = ADMIN_RULES.get(ADMIN_MODELS.get(label, ""), {})
    return rule.get(kind)


@pytest.fixture(autouse=True)
def _forget_health_answers():
    """/healthz caches each VICIdial server's answer: none of this table's may reach another
    test, nor another test's reach this table."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def objects(users):
    """One real row per model a URL can point at."""
    Extension.objects.create(login="1001", extension="1001", protocol="SIP")
    pending = submit(users["supervisor"])
    call = VicidialCall.objects.create(request=pending, function="add_phone_alias")
    common = {
        "user_agent": "probe",
        "ip_address": "10.0.0.9",
        "http_accept": "*/*",
        "path_info": "/",
    }
    digest = AuditDigest.objects.create(
        sequence=1,
        head_hash="0" * 64,
        created_at=timezone.now(),
        sha256="1" * 64,
        previous_sha256="",
        signature="probe",
        signing_key="probe",
        file_name="probe.json",
    )
    attempt = AccessAttempt.objects.create(
        username="auditor", get_data="", post_data="", failures_since_start=1, **common
    )
    return {
        "aliases.alias": adopted_alias("matrix_alias", ["1001"]).pk,
        "aliases.requestbatch": upload_batch(users["supervisor"], pending).pk,
        "aliases.aliasrequest": pending.pk,
        "aliases.vicidialcall": call.pk,
        "aliases.extension": Extension.objects.get().pk,
        "aliases.auditevent": AuditEvent.objects.order_by("sequence").first().pk,
        "aliases.auditdigest": digest.pk,
        "auth.user": users["supervisor"].pk,
        "auth.group": Group.objects.order_by("pk").first().pk,
        "axes.accessattempt": attempt.pk,
        "axes.accesslog": AccessLog.objects.create(username="auditor", **common).pk,
        "axes.accessfailurelog": AccessFailureLog.objects.create(username="auditor", **common).pk,
        "django_tasks_database.dbtaskresult": DBTaskResult.objects.create(
            args_kwargs={"args": [pending.pk], "kwargs": {}},
            task_path="aliases.services.queue.call_vicidial",
            backend_name="default",
        ).pk,
    }


def concrete_url(key: str, route: str, objects: dict[str, int]) -> str:
    pending = objects["aliases.aliasrequest"]
    model = admin_model_of(route)
    pks = {
        "aliases:alias_": objects["aliases.alias"],
        "aliases:batch_": objects["aliases.requestbatch"],
    }
    values = {
        "pk": next((pk for prefix, pk in pks.items() if key.startswith(prefix)), pending),
        "login": "1001",
        "fmt": "csv",
        "id": objects["auth.user"],
        "object_id": objects[model[0]] if model else pending,
        "content_type_id": ContentType.objects.get_for_model(AliasRequest).pk,
    }
    path = route
    app_list = APP_LIST_ROUTE.search(path)
    if app_list:
        path = path.replace(app_list[0], key.rpartition(" ")[2])
    path = path.replace("(?P<url>.*)", "no-such-page/")

    def fill(match: re.Match) -> str:
        name = match["name"]
        if name not in values:
            pytest.fail(f"teach concrete_url() a value for <{name}> in {route!r}")
        return str(values[name])

    path = "/" + PLACEHOLDER.sub(fill, path).replace("^", "").replace("$", "")
    # Django drops the "^" of regex routes when it reports the route it matched.
    matched = resolve(path).route
    assert matched == route.replace("^", ""), f"{path} resolves to {matched!r}, not {route!r}"
    return path


def post_data(key: str, route: str, objects: dict[str, int]) -> tuple[dict, dict]:
    """(valid-looking data for refused POSTs, harmless data for POSTs the persona may make)."""
    new_request = {
        "alias_id": "matrix_1",
        "alias_name": "Matrix",
        "phone_logins": "1001",
        "justification": "Walks the URL table.",
        "submission_token": str(uuid.uuid4()),
    }
    pending = objects["aliases.aliasrequest"]
    portal = {
        "aliases:request_new": (new_request, {}),
        "aliases:request_approve": ({"note": "Fine."}, {"note": "x" * 2001}),
        # Refused POSTs carry a file that would create a request; the harmless one has none.
        "aliases:request_upload": ({"file": csv_upload("add,matrix_2,Matrix,1001,Why.")}, {}),
        "aliases:requests_approve_selected": (
            {"note": "Fine.", "request": [pending]},
            {"note": "x" * 2001, "request": [pending]},
        ),
        "aliases:batch_approve": ({"note": "Fine."}, {"note": "x" * 2001}),
        "aliases:batch_withdraw": ({"note": "Not needed."}, {"note": "x" * 2001}),
        "aliases:request_reject": ({"note": "Not needed."}, {"note": ""}),
        "aliases:request_retry": ({"note": "Again."}, {"note": "Again."}),  # pending: refused
        "aliases:request_settle": ({"done_in_vicidial": "yes", "note": "Checked."}, {}),
        "aliases:alias_change": ({**new_request, "alias_name": "Matrix change"}, {}),
        "aliases:alias_disable": (new_request, {}),
        "aliases:alias_enable": (new_request, {}),
    }
    if key in portal:
        return portal[key]
    found = admin_model_of(route)
    if found is None:
        return {}, {}
    label, kind = found
    selected = {ACTION_CHECKBOX_NAME: [objects[label]]}
    if kind == "changelist" and label == "aliases.aliasrequest":
        reject = {"action": "reject_selected", "apply": "1", **selected}
        return {**reject, "note": "Rejected by a role that may not."}, {**reject, "note": ""}
    password = "N3w-passw0rd-for-matrix"
    attack = {
        "changelist": {"action": "delete_selected", "post": "yes", **selected},
        "delete": {"post": "yes"},
        "password": {"password1": password, "password2": password, "usable_password": "true"},
        # Valid-looking edits for every model at once: unknown fields are ignored.
        "add": {"username": "mallory", "password1": password, "password2": password,
                "name": "Mallory", "alias_id": "forged_1", "login": "6666"},
        "change": {"username": "supervisor", "is_staff": "on", "is_superuser": "on",
                   "is_active": "on", "name": "Admins", "status": "succeeded",
                   "alias_id": "forged_1", "login": "6666"},
    }.get(kind, {})  # fmt: skip
    return attack, {}


def snapshot() -> tuple:
    """What a refused or read-only request must not change (the audit trail grows, on purpose)."""
    return (
        list(
            AliasRequest.objects.order_by("pk").values_list(
                "pk", "alias_id", "status", "decided_by", "decision_note", "outcome_reason"
            )
        ),
        VicidialCall.objects.count(),
        list(AuditDigest.objects.order_by("pk").values_list("pk", "sha256")),
        list(VicidialCircuit.objects.values_list("is_open", "reset_at")),
        list(
            get_user_model()
            .objects.order_by("pk")
            .values_list("username", "password", "is_staff", "is_superuser", "is_active")
        ),
        list(Group.objects.order_by("pk").values_list("name", flat=True)),
        # Who is in which group, and what each group may do: the privilege escalations.
        get_user_model().groups.through.objects.count(),
        Group.permissions.through.objects.count(),
        list(Extension.objects.order_by("pk").values_list("login", "extension")),
        list(Alias.objects.order_by("pk").values_list("alias_id", "alias_name", "state")),
        list(RequestBatch.objects.order_by("pk").values_list("pk", "kind", "paused_at", "note")),
        # Not AccessLog: axes adds a row for every log-in, the test's own included.
        AccessAttempt.objects.count(),
        AccessFailureLog.objects.count(),
    )


def matches(expected, response, client: Client) -> bool:
    location = response.get("Location", "")
    if isinstance(expected, int):
        return response.status_code == expected
    if expected in (FORM, IGNORED):
        return response.status_code == 200
    if expected == LOGIN:
        return response.status_code == 302 and location.startswith(f"{reverse('login')}?next=")
    if expected == ADM_LOGIN:
        admin_login = reverse("admin:login")
        return response.status_code == 302 and location.startswith(f"{admin_login}?next=")
    if expected == LOGGED_OUT:
        ended = "_auth_user_id" not in client.session
        return response.status_code == 302 and location == reverse("login") and ended
    if expected == HEALTH:
        json = response.get("Content-Type") == "application/json"
        return response.status_code in (200, 503) and json
    if expected == MOVED:
        logins = (reverse("login"), reverse("admin:login"))
        return response.status_code == 302 and not location.startswith(logins)
    raise AssertionError(f"unknown expectation {expected!r}")


def make_client(persona: str, client_for) -> Client:
    return Client() if persona == "anonymous" else client_for(persona)


def send(client: Client, method: str, url: str, data: dict):
    response = client.get(url) if method == "GET" else client.post(url, data)
    if response.streaming:
        b"".join(response.streaming_content)  # an export fails while streaming, if at all
    return response


def check_pattern(key: str, route: str, clients: dict[str, Client], objects) -> list[str]:
    """Every persona, GET then POST, against the table row; what differs, one line each."""
    row = expectation(key, route)
    if row is None:
        return [
            f"URL pattern {key!r} (route {route!r}) is not in the permission table: add it to "
            "EXPECTED in tests/test_permission_matrix.py (or, for a model admin, to ADMIN_MODELS)"
        ]
    assert len(row) == len(PERSONAS), key
    url = concrete_url(key, route, objects)
    attack, harmless = post_data(key, route, objects)
    gets = [(persona, "GET", pair[0]) for persona, pair in zip(PERSONAS, row, strict=True)]
    posts = [(persona, "POST", pair[1]) for persona, pair in zip(PERSONAS, row, strict=True)]
    # Refused POSTs before allowed ones: an allowed one (cancel, log-out) may change things.
    posts.sort(key=lambda cell: cell[2] not in REFUSALS)
    before = snapshot()
    wrong = []
    for persona, method, expected in gets + posts:
        client = clients[persona]
        refused = expected in REFUSALS
        response = send(client, method, url, attack if refused else harmless)
        got = f"{response.status_code} {response.get('Location', '')}".strip()
        if not matches(expected, response, client):
            wrong.append(f"{persona:>10} {method:<4} {url}: expected {expected}, got {got}")
        elif method == "POST" and refused and snapshot() != before:
            wrong.append(f"{persona:>10} {method:<4} {url}: {got} but the database changed")
            before = snapshot()
        if (persona, method) == (PERSONAS[-1], "GET") and snapshot() != before:
            wrong.append(f"GET {url} changed the database")
            before = snapshot()
    return wrong


def grouped_keys() -> dict[str, list[tuple[str, str]]]:
    """One test per pattern, but one per model for the admin's per-model URLs."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for key, route in ALL_KEYS:
        model = admin_model_of(route)
        groups.setdefault(f"admin {model[0]} *" if model else key, []).append((key, route))
    return groups


ALL_KEYS = table_keys()
GROUPS = grouped_keys()


@pytest.mark.parametrize("group", list(GROUPS))
def test_permission_matrix(client_for, objects, group):
    # One client per persona and test: each persona's GET comes before its POST, and the
    # log-out URLs (the only POSTs that end a session) are groups of their own.
    clients = {persona: make_client(persona, client_for) for persona in PERSONAS}
    wrong = []
    for key, route in GROUPS[group]:
        wrong += check_pattern(key, route, clients, objects)
    assert not wrong, "\n".join(["", *wrong])


def test_the_table_names_only_patterns_that_exist():
    keys = {key for key, _ in ALL_KEYS}
    assert set(EXPECTED) <= keys, f"stale entries: {sorted(set(EXPECTED) - keys)}"
    models = {found[0] for _, route in ALL_KEYS if (found := admin_model_of(route))}
    assert set(ADMIN_MODELS) == models


def normalised(response) -> bytes:
    # The CSRF token in the page's logout form is masked afresh on every render.
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", response.content)


def test_another_supervisors_request_looks_like_a_missing_one(client_for, objects):
    """IDOR: supervisor2 learns nothing about supervisor's request, not even that it exists."""
    theirs = objects["aliases.aliasrequest"]
    missing = AliasRequest.objects.order_by("-pk").first().pk + 1000
    intruder = client_for("supervisor2")
    before = snapshot()
    # Requests only: every inventory viewer sees every alias, whoever asked for it.
    routes = [
        route
        for key, route in ALL_KEYS
        if key.startswith("aliases:") and route.startswith("requests/<int:pk>/")
    ]
    assert len(routes) == 7
    for route in routes:
        for method in ("GET", "POST"):
            probe = {"note": "mine now", "done_in_vicidial": "yes"}
            real = send(intruder, method, "/" + route.replace("<int:pk>", str(theirs)), probe)
            fake = send(intruder, method, "/" + route.replace("<int:pk>", str(missing)), probe)
            assert (real.status_code, normalised(real)) == (fake.status_code, normalised(fake))
    detail = reverse("aliases:request_detail", args=[theirs])
    assert send(intruder, "GET", detail, {}).status_code == 404
    cancel = reverse("aliases:request_cancel", args=[theirs])
    assert send(intruder, "POST", cancel, {}).status_code == 404
    assert snapshot() == before


def test_a_withdrawn_role_withdraws_access_to_own_requests(client_for, users, objects):
    """Nobody without a role sees anything: not even what they asked for as a supervisor."""
    theirs = objects["aliases.aliasrequest"]
    former = users["supervisor"]
    former.groups.clear()
    client = client_for("supervisor")
    seen = {
        url: client.get(url).status_code
        for url in [
            reverse("aliases:home"),
            reverse("aliases:request_list"),
            reverse("aliases:request_detail", args=[theirs]),
        ]
    }
    assert all(status in (403, 404) for status in seen.values()), seen
    cancel = client.post(reverse("aliases:request_cancel", args=[theirs]))
    assert cancel.status_code == 403
    assert AliasRequest.objects.get(pk=theirs).status == AliasRequest.Status.PENDING
