"""Every kind of request through the one call path, against the simulated VICIdial: what is
sent, what each of VICIdial's answers means, and what the inventory shows afterwards."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from aliases import services
from aliases.audit import EventType
from aliases.errors import AliasAlreadyListed, DuplicateAliasId, InvalidTransition
from aliases.models import Alias, AliasRequest, AuditEvent, VicidialCall, VicidialCircuit
from aliases.simulator import Fault, VicidialSimulator, demo_state

from .base import submit

Status = AliasRequest.Status
Kind = AliasRequest.Kind


def approve(alias_request: AliasRequest, actor) -> AliasRequest:
    return services.alias_request_approve(request_id=alias_request.pk, actor=actor)


def sent(simulator) -> dict[str, str]:
    """The fields of the last request VICIdial received, credentials left out."""
    params = dict(simulator.state.requests_received[-1].params)
    return {name: value for name, value in params.items() if name not in ("user", "pass")}


def listed(alias: Alias) -> tuple[str, str, list[str]]:
    alias.refresh_from_db()
    return alias.state, alias.alias_name, alias.logins_in_order()


@pytest.fixture
def alias(users, simulator) -> Alias:
    """sales_desk, created through the portal: ringing 1001 and 1002."""
    done = approve(submit(users["supervisor"]), users["admin"])
    assert done.status == Status.SUCCEEDED
    return Alias.objects.get()


def change(users, alias, **values) -> AliasRequest:
    values.setdefault("alias_name", alias.alias_name)
    values.setdefault("phone_logins", alias.logins_in_order())
    return services.alias_change_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Floor move.", **values
    )


def disable(users, alias) -> AliasRequest:
    return services.alias_disable_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Team disbanded."
    )


def enable(users, alias) -> AliasRequest:
    return services.alias_enable_submit(
        requester=users["supervisor"], alias_pk=alias.pk, justification="Team is back."
    )


def test_an_add_that_succeeds_puts_the_alias_in_the_inventory(alias, simulator):
    assert (alias.server, alias.alias_id, alias.origin) == ("default", "sales_desk", "portal")
    assert listed(alias) == ("active", "Sales desk", ["1001", "1002"])
    assert alias.last_request.kind == Kind.ADD
    assert alias.last_request.get_status_display() == "Created in VICIdial"
    succeeded = AuditEvent.objects.get(event_type=EventType.REQUEST_SUCCEEDED)
    assert succeeded.changes["inventory"] == {
        "alias": alias.pk,
        "state": [None, "active"],
        "alias_name": [None, "Sales desk"],
        "phone_logins": [None, ["1001", "1002"]],
    }


def test_an_add_for_an_alias_the_inventory_holds_is_refused_in_any_letter_case(users, alias):
    with pytest.raises(AliasAlreadyListed) as refused:
        submit(users["supervisor2"], alias_id="SALES_DESK")
    assert refused.value.alias_pk == alias.pk
    assert "Open it to ask for a change" in str(refused.value)
    services.alias_request_approve(request_id=disable(users, alias).pk, actor=users["admin"])
    with pytest.raises(AliasAlreadyListed, match="or to enable it"):
        submit(users["supervisor2"], alias_id="sales_desk")


def test_a_change_of_name_sends_only_the_name(users, alias, simulator):
    done = approve(change(users, alias, alias_name="Sales floor"), users["admin"])
    assert done.status == Status.SUCCEEDED
    assert done.get_status_display() == "Changed in VICIdial"
    assert sent(simulator) == {
        "function": "update_phone_alias",
        "alias_id": "sales_desk",
        "alias_name": "Sales floor",
        "source": f"portal{done.pk}",
    }
    assert VicidialCall.objects.filter(request=done).get().response_body == (
        "SUCCESS: update_phone_alias PHONE ALIAS HAS BEEN UPDATED - 6666|sales_desk|\n"
    )
    assert listed(alias) == ("active", "Sales floor", ["1001", "1002"])
    assert simulator.state.alias("sales_desk").alias_name == "Sales floor"
    assert simulator.state.alias("sales_desk").logins_list == "1001,1002"


def test_a_change_of_phones_sends_only_the_logins_and_is_in_each_phones_history(
    users, alias, simulator
):
    request = change(users, alias, phone_logins="1002,1003")
    assert (request.previous_name, request.previous_logins) == ("Sales desk", ["1001", "1002"])
    done = approve(request, users["admin"])
    assert sent(simulator) == {
        "function": "update_phone_alias",
        "alias_id": "sales_desk",
        "phone_logins": "1002,1003",
        "source": f"portal{done.pk}",
    }
    assert listed(alias) == ("active", "Sales desk", ["1002", "1003"])
    # The phone taken off the alias has the change in its story too.
    succeeded = AuditEvent.objects.filter(event_type=EventType.REQUEST_SUCCEEDED).first()
    assert succeeded.extensions == ["1002", "1003", "1001"]


def test_a_change_that_changes_nothing_is_refused(users, alias):
    with pytest.raises(ValidationError, match="Nothing would change"):
        change(users, alias, phone_logins="1002,1001")
    with pytest.raises(ValidationError, match="Nothing would change"):
        change(users, alias, phone_logins="1001,1002")
    with pytest.raises(ValidationError, match="characters VICIdial would silently delete"):
        change(users, alias, alias_name="Sales & desk")


def test_a_change_of_an_alias_gone_from_vicidial_is_a_failure_that_names_the_drift(
    users, alias, simulator
):
    simulator.state.aliases.clear()  # removed in VICIdial's own screens, behind the portal
    done = approve(change(users, alias, alias_name="Sales floor"), users["admin"])
    assert done.status == Status.FAILED
    assert done.outcome_reason.startswith(
        "VICIdial does not hold alias 'sales_desk' although the portal lists it"
    )
    assert "PHONE ALIAS DOES NOT EXIST: |6666|sales_desk" in done.outcome_reason
    assert listed(alias) == ("active", "Sales desk", ["1001", "1002"])


def test_a_change_to_a_phone_vicidial_lacks_fails_and_changes_nothing(users, alias, simulator):
    done = approve(change(users, alias, phone_logins="1001,zz999"), users["admin"])
    assert done.status == Status.FAILED
    assert done.outcome_reason == "ERROR: update_phone_alias PHONE DOES NOT EXIST: |6666|zz999"
    assert listed(alias) == ("active", "Sales desk", ["1001", "1002"])


def test_disable_deletes_in_vicidial_and_keeps_the_alias_here(users, alias, simulator):
    done = approve(disable(users, alias), users["admin"])
    assert done.status == Status.SUCCEEDED
    assert done.get_status_display() == "Disabled: removed from VICIdial"
    assert sent(simulator) == {
        "function": "update_phone_alias",
        "alias_id": "sales_desk",
        "delete_alias": "Y",
        "source": f"portal{done.pk}",
    }
    assert simulator.state.alias("sales_desk") is None
    assert listed(alias) == ("disabled", "Sales desk", ["1001", "1002"])


def test_enable_creates_the_alias_again_from_what_the_inventory_kept(users, alias, simulator):
    approve(disable(users, alias), users["admin"])
    done = approve(enable(users, alias), users["admin"])
    assert done.status == Status.SUCCEEDED
    assert done.get_status_display() == "Enabled: created in VICIdial again"
    assert sent(simulator) == {
        "function": "add_phone_alias",
        "alias_id": "sales_desk",
        "alias_name": "Sales desk",
        "phone_logins": "1001,1002",
        "source": f"portal{done.pk}",
    }
    assert simulator.state.alias("sales_desk").logins_list == "1001,1002"
    assert listed(alias) == ("active", "Sales desk", ["1001", "1002"])
    assert alias.last_request == done


def test_disable_without_the_delete_right_is_a_failure_with_the_reason(users, alias, simulator):
    simulator.state.users["6666"].ast_delete_phones = False
    done = approve(disable(users, alias), users["admin"])
    assert done.status == Status.FAILED
    assert done.calls.get().response_body == (
        "NOTICE: update_phone_alias USER DOES NOT HAVE PERMISSION TO DELETE PHONE ALIASES:"
        " |6666|0\n"
    )
    assert done.outcome_reason.startswith(
        "VICIdial did nothing: its API user may not delete phone aliases"
    )
    assert simulator.state.alias("sales_desk") is not None
    assert listed(alias) == ("active", "Sales desk", ["1001", "1002"])


def test_enable_of_an_alias_vicidial_already_holds_says_it_is_drift(users, alias, simulator):
    approve(disable(users, alias), users["admin"])
    simulator.state.add_alias("Sales_Desk", "Sales desk", "1001,1002")  # re-made by hand
    done = approve(enable(users, alias), users["admin"])
    assert done.status == Status.FAILED
    assert done.outcome_reason.startswith(
        "VICIdial already holds alias 'sales_desk', so it was not created again"
    )
    assert listed(alias)[0] == "disabled"


def test_a_retried_disable_that_finds_the_alias_gone_probably_worked(users, alias, simulator):
    simulator.state.inject(Fault(reset=True))  # VICIdial deletes it, the answer is lost
    unknown = approve(disable(users, alias), users["admin"])
    assert unknown.status == Status.NEEDS_VERIFICATION
    assert simulator.state.alias("sales_desk") is None
    retried = services.alias_request_retry(request_id=unknown.pk, actor=users["admin"])
    assert retried.status == Status.NEEDS_VERIFICATION
    assert "it probably did" in retried.outcome_reason
    assert "PHONE ALIAS DOES NOT EXIST" in retried.outcome_reason
    services.alias_request_settle(
        request_id=unknown.pk, actor=users["admin2"], done_in_vicidial=True, note="Gone."
    )
    assert listed(alias)[0] == "disabled"


def test_a_final_answer_on_a_first_call_changes_nothing_here(users, alias, simulator):
    simulator.state.inject(Fault(reset=True, process=False))
    unknown = approve(disable(users, alias), users["admin"])
    assert unknown.status == Status.NEEDS_VERIFICATION
    assert listed(alias)[0] == "active"  # an unknown outcome never changes the inventory


def test_one_live_request_per_alias_of_any_kind(users, alias):
    pending = change(users, alias, alias_name="Sales floor")
    with pytest.raises(DuplicateAliasId, match=f"#{pending.pk}"):
        disable(users, alias)
    services.alias_request_cancel(request_id=pending.pk, actor=users["supervisor"])
    assert disable(users, alias).status == Status.PENDING


def test_kinds_need_the_state_they_start_from(users, alias):
    with pytest.raises(InvalidTransition, match="cannot be enabled"):
        enable(users, alias)
    approve(disable(users, alias), users["admin"])
    with pytest.raises(InvalidTransition, match="cannot be changed"):
        change(users, alias, alias_name="Sales floor")
    with pytest.raises(InvalidTransition, match="cannot be disabled"):
        disable(users, alias)


def test_an_unknown_server_is_refused(users, settings):
    settings.VICIDIAL_SERVERS = {}
    with pytest.raises(ValidationError, match="not one of the portal's VICIdial servers"):
        submit_on(users["supervisor"], "east")


def submit_on(requester, server: str, alias_id: str = "sales_desk") -> AliasRequest:
    return services.alias_request_submit(
        requester=requester,
        server=server,
        alias_id=alias_id,
        alias_name="Sales desk",
        phone_logins="1001,1002",
        justification="One number per floor.",
    )


@pytest.fixture
def east(settings, simulator):
    """A second VICIdial with an API password of its own."""
    state = demo_state(user="7777", password="East-Api-Pass-93721")
    server = VicidialSimulator(state).start()
    settings.VICIDIAL_SERVERS = {
        "east": {"API_URL": server.url, "API_USER": "7777", "API_PASS": "East-Api-Pass-93721"}
    }
    yield server
    server.stop()


def test_the_same_alias_id_on_two_servers_is_two_aliases(users, simulator, east):
    on_default = approve(submit_on(users["supervisor"], "default"), users["admin"])
    on_east = approve(submit_on(users["supervisor"], "east"), users["admin"])
    assert (on_default.status, on_east.status) == (Status.SUCCEEDED, Status.SUCCEEDED)
    assert east.state.alias("sales_desk") is not None
    assert sorted(Alias.objects.values_list("server", "alias_id")) == [
        ("default", "sales_desk"),
        ("east", "sales_desk"),
    ]
    assert VicidialCall.objects.get(request=on_east).server == "east"


def test_a_wrong_password_on_one_server_stops_only_that_server(users, simulator, east, settings):
    settings.VICIDIAL_SERVERS = {
        "east": {**settings.VICIDIAL_SERVERS["east"], "API_PASS": "Wr0ng-East-Pass-1"}
    }
    refused = approve(submit_on(users["supervisor"], "east", "east_desk"), users["admin"])
    assert refused.status == Status.FAILED
    assert VicidialCircuit.objects.get(server="east").is_open
    assert not VicidialCircuit.objects.filter(server="default", is_open=True).exists()
    assert "VICIdial server east rejected" in services.circuit.vicidial_calls_stopped_reason("east")
    # The default server keeps working.
    fine = approve(submit_on(users["supervisor"], "default", "main_desk"), users["admin"])
    assert fine.status == Status.SUCCEEDED
    # East sends nothing more until an admin resumes it.
    received = len(east.state.requests_received)
    stopped = submit_on(users["supervisor2"], "east", "east_desk2")
    with pytest.raises(Exception, match="VICIdial server east rejected"):
        approve(stopped, users["admin"])
    assert len(east.state.requests_received) == received
    services.vicidial_circuit_reset(actor=users["admin"], server="east")
    assert not VicidialCircuit.objects.get(server="east").is_open


def test_a_request_made_while_the_alias_changes_under_it_is_refused(users, alias, monkeypatch):
    from aliases.services import submissions as request_services

    checked = request_services._ensure_no_live_request

    def settled_meanwhile(server, alias_id):
        checked(server, alias_id)
        # Another request for the alias settles between the checks and the insert.
        Alias.objects.filter(pk=alias.pk).update(state="disabled", updated_at=alias.updated_at)

    monkeypatch.setattr(request_services, "_ensure_no_live_request", settled_meanwhile)
    with pytest.raises(InvalidTransition, match="changed while this request was being made"):
        change(users, alias, alias_name="Sales floor")
    assert not AliasRequest.objects.filter(kind=Kind.CHANGE).exists()


def test_a_disable_of_an_alias_vicidial_lost_lists_it_disabled(users, alias, simulator):
    simulator.state.aliases.clear()  # removed in VICIdial's own screens
    done = approve(disable(users, alias), users["admin"])
    assert done.status == Status.SUCCEEDED
    assert done.outcome_reason.startswith("VICIdial did not hold alias 'sales_desk'")
    assert done.calls.get().response_body == (
        "ERROR: update_phone_alias PHONE ALIAS DOES NOT EXIST: |6666|sales_desk\n"
    )
    assert listed(alias)[0] == "disabled"


def test_without_a_database_vicidials_answer_opens_the_drift_fix(users, alias, simulator):
    """A failed enable said ALREADY EXISTS: disabling it again is allowed, and so on."""
    approve(disable(users, alias), users["admin"])
    simulator.state.add_alias("sales_desk", "Sales desk", "1001,1002")  # made again by hand
    with pytest.raises(InvalidTransition, match="cannot be disabled unless VICIdial shows it"):
        disable(users, alias)
    failed = approve(enable(users, alias), users["admin"])
    assert failed.status == Status.FAILED
    assert "ask to disable it again" in failed.outcome_reason
    again = approve(disable(users, alias), users["admin"])
    assert again.status == Status.SUCCEEDED
    assert simulator.state.alias("sales_desk") is None
    assert listed(alias)[0] == "disabled"
    # A change VICIdial answered DOES NOT EXIST opens enabling an active alias the same way.
    approve(enable(users, alias), users["admin"])
    simulator.state.aliases.clear()
    refused = approve(change(users, alias, alias_name="Sales floor"), users["admin"])
    assert "Ask to enable it" in refused.outcome_reason
    back = approve(enable(users, alias), users["admin"])
    assert back.status == Status.SUCCEEDED
    assert simulator.state.alias("sales_desk").alias_name == "Sales desk"


def test_a_disable_answered_for_another_alias_id_is_not_taken_as_gone(users, simulator):
    """VICIdial drops the '.' of an adopted ID it would never have stored, then answers for
    the ID it made of it: that says nothing about 'sales.desk'."""
    from aliases.services.inventory import alias_set_logins

    adopted = Alias.objects.create(alias_id="sales.desk", alias_name="Sales", origin="adopted")
    alias_set_logins(adopted, ["1001"])
    done = approve(disable(users, adopted), users["admin"])
    assert done.calls.get().response_body == (
        "ERROR: update_phone_alias PHONE ALIAS DOES NOT EXIST: |6666|salesdesk\n"
    )
    assert done.status == Status.FAILED
    assert listed(adopted)[0] == "active"


def test_vicidials_answer_opens_a_fix_only_while_fresh_and_unsettled(users, alias, simulator):
    approve(disable(users, alias), users["admin"])
    simulator.state.add_alias("sales_desk", "Sales desk", "1001,1002")
    failed = approve(enable(users, alias), users["admin"])
    too_late = time_machine.travel(failed.completed_at + timedelta(days=2))
    with too_late, pytest.raises(InvalidTransition, match="does not show it either"):
        disable(users, alias)
    again = disable(users, alias)
    created = AuditEvent.objects.get(event_type=EventType.REQUEST_CREATED, request=again)
    assert created.changes["allowed_by"] == {
        "vicidial_call": failed.calls.get().pk,
        "answer": "PHONE ALIAS ALREADY EXISTS",
    }


def test_an_answer_an_admin_settled_otherwise_is_no_evidence(users, alias, simulator):
    simulator.state.inject(Fault(reset=True))  # deleted, the answer lost
    unknown = approve(disable(users, alias), users["admin"])
    retried = services.alias_request_retry(request_id=unknown.pk, actor=users["admin"])
    assert "PHONE ALIAS DOES NOT EXIST" in retried.outcome_reason
    simulator.state.add_alias("sales_desk", "Sales desk", "1001,1002")  # and made again
    services.alias_request_settle(
        request_id=unknown.pk, actor=users["admin2"], done_in_vicidial=False, note="Still there."
    )
    with pytest.raises(InvalidTransition, match="does not show it either"):
        enable(users, alias)
