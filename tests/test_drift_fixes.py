"""The requests that drift's fixes make: a change measured against what VICIdial's database
holds, and enabling an active alias that VICIdial has lost. Carried out against the
simulator keeping its aliases in a real MariaDB, which the portal reads as VICIdial's."""

import pytest
from django.core.exceptions import ValidationError

from aliases import services
from aliases.audit import EventType
from aliases.errors import InvalidTransition
from aliases.models import Alias, AuditEvent
from aliases.services import drift_compare
from aliases.services.operations import vicidial_operation

from .inventory_helpers import adopted_alias, approved

pytestmark = pytest.mark.django_db


def change(users, alias: Alias, *, from_vicidial: bool, name: str, logins: str):
    return services.alias_change_submit(
        requester=users["supervisor"],
        alias_pk=alias.pk,
        alias_name=name,
        phone_logins=logins,
        justification="Back in step with the inventory.",
        from_vicidial=from_vicidial,
    )


def enable(users, alias: Alias):
    return services.alias_enable_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="VICIdial lost it."
    )


@pytest.fixture
def moved(vicidial_db, settings):
    """Someone changed the alias's logins in VICIdial itself; the inventory kept the old."""
    settings.VICIDIAL_DB_URL = vicidial_db.url
    for login in ("1001", "1002", "1003"):
        vicidial_db.add_phone(login)
    vicidial_db.add_alias("moved", "Moved", "1001,1003")
    return adopted_alias("moved", ["1001", "1002"], name="Moved")


def test_from_vicidial_the_change_starts_from_what_vicidial_holds(moved, users):
    alias_request = change(users, moved, from_vicidial=True, name="Moved", logins="1001, 1002")

    assert (alias_request.previous_name, alias_request.previous_logins) == (
        "Moved",
        ["1001", "1003"],
    )
    # The name is what VICIdial has, so only the logins are sent.
    assert vicidial_operation(alias_request).arguments == {
        "alias_id": "moved",
        "phone_logins": ["1001", "1002"],
    }
    event = AuditEvent.objects.get(event_type=EventType.REQUEST_CREATED)
    assert event.changes["previous_from"] == "vicidial_database"
    assert event.changes["phone_logins"] == [["1001", "1003"], ["1001", "1002"]]


def test_without_from_vicidial_the_same_values_change_nothing(moved, users):
    with pytest.raises(ValidationError, match="what the alias has now"):
        change(users, moved, from_vicidial=False, name="Moved", logins="1001, 1002")


def test_from_vicidial_nothing_would_change_compares_with_vicidial(moved, users):
    with pytest.raises(ValidationError, match="what VICIdial holds now"):
        change(users, moved, from_vicidial=True, name="Moved", logins="1003,1001")


def test_from_vicidial_a_change_of_an_alias_vicidial_lacks_is_refused(moved, users, vicidial_db):
    vicidial_db.remove_alias("moved")

    with pytest.raises(InvalidTransition, match="Ask to enable it instead"):
        change(users, moved, from_vicidial=True, name="Moved", logins="1001, 1002")


def test_enabling_an_active_alias_vicidial_lacks_is_accepted(moved, users, vicidial_db):
    vicidial_db.remove_alias("moved")

    alias_request = enable(users, moved)

    assert (alias_request.kind, alias_request.status) == ("enable", "pending")
    assert alias_request.logins_in_order() == ["1001", "1002"]


def test_enabling_an_active_alias_vicidial_holds_is_refused(moved, users):
    with pytest.raises(InvalidTransition, match="that database shows it present"):
        enable(users, moved)


def test_enabling_an_active_alias_cannot_be_checked_without_database(users, settings):
    settings.VICIDIAL_DB_URL = ""
    alias = adopted_alias("somewhere", ["1001"])

    with pytest.raises(InvalidTransition, match="cannot read its database.*VICIDIAL_DB_URL"):
        enable(users, alias)


def test_a_disabled_alias_is_enabled_as_before_without_any_database(users, settings):
    settings.VICIDIAL_DB_URL = ""
    alias = adopted_alias("resting", ["1001"], state=Alias.State.DISABLED)

    assert enable(users, alias).kind == "enable"


# Carried out: the fix, approved, brings VICIdial and the inventory back in step.


@pytest.fixture
def vicidial(simulator_on_mariadb, vicidial_db):
    return vicidial_db


def test_the_change_fix_carried_out_leaves_no_drift(vicidial, users):
    vicidial.add_alias("moved", "Moved", "1001,1003")
    alias = adopted_alias("moved", ["1001", "1002"], name="Moved")
    [row] = drift_compare(server="default").rows
    assert row.kind == "logins_differ"

    done = approved(
        change(users, alias, from_vicidial=True, name="Moved", logins="1001, 1002"),
        users["admin"],
    )

    assert done.status == "succeeded", done.outcome_reason
    assert vicidial.alias("moved") == ("moved", "Moved", "1001,1002", "---ALL---")
    assert drift_compare(server="default").rows == []


def test_the_enable_fix_carried_out_creates_the_alias_again(vicidial, users):
    alias = adopted_alias("lost", ["1001", "1002"], name="Lost one")
    [row] = drift_compare(server="default").rows
    assert row.kind == "missing_in_vicidial"

    done = approved(enable(users, alias), users["admin"])

    assert done.status == "succeeded", done.outcome_reason
    assert vicidial.alias("lost") == ("lost", "Lost one", "1001,1002", "---ALL---")
    alias.refresh_from_db()
    assert alias.state == "active" and alias.last_request == done
    assert drift_compare(server="default").rows == []


def disable(users, alias: Alias):
    return services.alias_disable_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Made again by hand."
    )


@pytest.fixture
def reappeared(vicidial_db, settings):
    """Disabled here; someone created it again in VICIdial's own screens."""
    settings.VICIDIAL_DB_URL = vicidial_db.url
    vicidial_db.add_phone("1001")
    vicidial_db.add_alias("gone", "Gone", "1001")
    return adopted_alias("gone", ["1001"], name="Gone", state=Alias.State.DISABLED)


def test_disabling_a_disabled_alias_vicidial_holds_again_is_accepted(reappeared, users):
    alias_request = disable(users, reappeared)
    assert (alias_request.kind, alias_request.status) == ("disable", "pending")
    assert vicidial_operation(alias_request).arguments == {"alias_id": "gone", "delete": True}


def test_disabling_a_disabled_alias_vicidial_lacks_is_refused(reappeared, users, vicidial_db):
    vicidial_db.remove_alias("gone")
    with pytest.raises(InvalidTransition, match="shows it present, and that database shows it"):
        disable(users, reappeared)


def test_the_disabled_but_present_fix_link_leads_to_a_request(reappeared, users, client_for):
    from django.urls import reverse

    (row,) = drift_compare(server="default").rows
    assert row.fix.url == reverse("aliases:alias_disable", args=[reappeared.pk])
    supervisor = client_for("supervisor")
    form = supervisor.get(row.fix.url)
    token = form.context["form"].initial["submission_token"]
    posted = supervisor.post(row.fix.url, {"justification": "Drift.", "submission_token": token})
    assert posted.status_code == 302
    assert reappeared.requests.get().kind == "disable"


def test_an_adopted_login_too_long_for_a_phone_is_left_out_of_a_disable(vicidial_db, users):
    alias = adopted_alias("wide", ["1001", "x" * 40], name="Wide")
    alias_request = disable(users, alias)
    assert alias_request.logins_in_order() == ["1001"]
    assert alias_request.logins_touched() == ["1001", "x" * 40]
