"""Migration 0010 builds the inventory from the requests that succeeded before it existed."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("aliases", "0009_digest_permissions")]
AFTER = [("aliases", "0010_lifecycle")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_each_alias_that_was_created_becomes_an_inventory_row():
    old = migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="sup")
    Request = old.get_model("aliases", "AliasRequest")
    Login = old.get_model("aliases", "RequestedLogin")

    def made(alias_id: str, status: str, logins: list[str]):
        request = Request.objects.create(
            alias_id=alias_id,
            alias_name="Sales floor",
            justification="x",
            requester=user,
            status=status,
        )
        for position, login in enumerate(logins):
            Login.objects.create(request=request, login=login, position=position)
        return request

    created = made("Sales_Desk", "succeeded", ["1002", "1003"])
    made("sales_desk", "failed", ["1001"])  # refused by VICIdial: nothing to list
    made("night_desk", "rejected", ["1004"])

    new = migrate(AFTER)
    (alias,) = new.get_model("aliases", "Alias").objects.all()
    assert (alias.server, alias.alias_id, alias.alias_name, alias.state, alias.origin) == (
        "default",
        "Sales_Desk",
        "Sales floor",
        "active",
        "portal",
    )
    assert [row.login for row in alias.logins.order_by("position")] == ["1002", "1003"]
    assert alias.last_request_id == created.pk
    requests = new.get_model("aliases", "AliasRequest").objects
    assert list(requests.filter(alias_record=alias).values_list("pk", flat=True)) == [created.pk]
    assert set(requests.values_list("kind", "server")) == {("add", "default")}
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
