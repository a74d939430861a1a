"""The admin's changelist rows as aliases/admin_rows plans them: the same HTML as Django's own
rendering on every changelist of the app, pages of 50, and no big column read for the list."""

import re
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aliases import admin_rows, audit
from aliases.admin import history_links
from aliases.models import (
    Alias,
    AliasLogin,
    AliasRequest,
    AuditDigest,
    AuditEvent,
    Extension,
    RequestBatch,
    VicidialCall,
)

from .base import submit

APP_MODELS = sorted(
    model._meta.model_name for model in admin.site._registry if model._meta.app_label == "aliases"
)


def changelist(model: str) -> str:
    return reverse(f"admin:aliases_{model}_changelist")


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com"))
    return client


@pytest.fixture
def varied_rows(users):
    """Rows with empty and set values of every kind the lists show, and text to escape."""
    first = submit(users["supervisor"], alias_id="desk_1", logins="7001,7002")
    second = submit(users["supervisor"], alias_id="desk_2", logins="7003")
    VicidialCall.objects.create(
        request=first,
        initiated_by=users["admin"],
        function="add_phone_alias",
        method="POST",
        url="https://vicidial.example/non_agent_api.php",
        http_status=200,
        response_body="SUCCESS: " + "x" * 5000,
        response_bytes=5009,
        duration_ms=12,
    )
    VicidialCall.objects.create(function="version", method="GET", url="https://v.example/")
    Extension.objects.create(login="7001", protocol="SIP", known_to_vicidial=True)
    Extension.objects.create(login="7003", protocol="IAX2", extension="& co")
    # An old event may name text that cannot be a history URL: shown, not linked.
    audit.record(event_type=AuditEvent.Type.EXTENSIONS_IMPORTED, extensions=["7001", "a/b", "<i>"])
    alias = Alias.objects.create(alias_id="Front", alias_name="Front <desk>", last_request=second)
    AliasLogin.objects.create(alias=alias, position=1, login="7003")
    back = Alias.objects.create(alias_id="Back", alias_name="B", state="disabled", origin="adopted")
    AliasLogin.objects.create(alias=back, position=1, login="7001")
    RequestBatch.objects.create(kind="upload", created_by=users["admin"], filename="a&b.csv")
    AuditDigest.objects.create(
        sequence=3,
        created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        sha256="a" * 64,
        previous_sha256="b" * 64,
        signature="sig",
        signing_key="key-1",
        file_name="digest-3.json",
    )


def result_table(client: Client, url: str, params: dict) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    table = re.search(r'<table id="result_list">.*?</table>', response.text, re.S)
    assert table, "no rows listed"
    return table.group()


@pytest.mark.parametrize("model", APP_MODELS)
@pytest.mark.parametrize("params", [{}, {"q": "7001"}, {"o": "-1"}], ids=str)
def test_planned_rows_are_djangos_rows_byte_for_byte(superuser_client, varied_rows, model, params):
    planned = result_table(superuser_client, changelist(model), params)
    with mock.patch.object(admin_rows, "row_plan", return_value=None):
        djangos = result_table(superuser_client, changelist(model), params)
    assert planned == djangos


@pytest.mark.parametrize("model", APP_MODELS)
def test_every_changelist_of_the_app_plans_its_rows(superuser_client, varied_rows, model):
    with mock.patch(
        "django.contrib.admin.templatetags.admin_list.items_for_result",
        side_effect=AssertionError("a row rendered cell by cell"),
    ):
        response = superuser_client.get(changelist(model))
    assert response.status_code == 200
    assert response.context["cl"].result_list or model in {"auditdigest", "requestbatch"}


def test_the_request_list_keeps_its_checkboxes_and_the_filters_in_its_links(
    superuser_client, varied_rows
):
    table = result_table(superuser_client, changelist("aliasrequest"), {"kind__exact": "add"})
    pk = AliasRequest.objects.get(alias_id="desk_1").pk
    assert (
        f'<input type="checkbox" name="_selected_action" value="{pk}" class="action-select"'
        f' aria-label="Select this object for an action - #{pk} desk_1">'
    ) in table
    change = reverse("admin:aliases_aliasrequest_change", args=[pk])
    assert f'<a href="{change}?_changelist_filters=kind__exact%3Dadd">{pk}</a>' in table


def test_history_links_link_each_login_that_can_have_a_page():
    plain, odd = (reverse("aliases:extension_history", args=[login]) for login in ("7001", "<i>"))
    assert history_links(["7001", "a/b", "<i>"]) == (
        f'<a href="{plain}">7001</a>, a/b, <a href="{odd}">&lt;i&gt;</a>'
    )


MAKE_ONE = {
    "auditevent": lambda users, n: audit.record(event_type=AuditEvent.Type.EXTENSIONS_IMPORTED),
    "vicidialcall": lambda users, n: VicidialCall.objects.create(
        function="version", method="GET", url="https://v.example/"
    ),
    "aliasrequest": lambda users, n: submit(
        users["supervisor"], alias_id=f"desk_{n}", logins="7001"
    ),
    "alias": lambda users, n: Alias.objects.create(alias_id=f"desk_{n}", alias_name="Desk"),
}


@pytest.mark.parametrize("model", MAKE_ONE)
def test_a_page_holds_50_rows(superuser_client, users, model):
    for number in range(51):
        MAKE_ONE[model](users, number)
    cl = superuser_client.get(changelist(model)).context["cl"]
    assert len(cl.result_list) == 50
    assert cl.paginator.num_pages == 2


@pytest.mark.parametrize(
    ("model", "column"),
    [
        ("vicidialcall", '"aliases_vicidialcall"."response_body"'),
        ("auditevent", '"aliases_auditevent"."changes"'),
        ("auditevent", '"aliases_aliasrequest"."justification"'),
        ("aliasrequest", '"aliases_aliasrequest"."justification"'),
    ],
)
def test_the_list_leaves_big_columns_in_the_database(superuser_client, varied_rows, model, column):
    with CaptureQueriesContext(connection) as captured:
        assert superuser_client.get(changelist(model)).status_code == 200
    table = f'FROM "aliases_{model}"'
    queries = [query["sql"] for query in captured.captured_queries]
    listed = [sql for sql in queries if table in sql and "COUNT" not in sql]
    assert listed and not [sql for sql in listed if column in sql]


def test_the_change_view_still_shows_the_whole_response(superuser_client, varied_rows):
    call = VicidialCall.objects.get(function="add_phone_alias")
    response = superuser_client.get(reverse("admin:aliases_vicidialcall_change", args=[call.pk]))
    assert "x" * 5000 in response.text
