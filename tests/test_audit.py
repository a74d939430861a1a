"""The audit trail: one event per step, append-only, hash-chained, verifiable."""

import json

import pytest
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse

from aliases import audit, services
from aliases.errors import AuditTrailIsAppendOnly, FourEyesViolation, InvalidTransition
from aliases.models import AliasRequest, AuditEvent

from .base import PASSWORD, race, submit
from .tampering import rewrite, tamper, verify

Type = AuditEvent.Type


def types(**filters) -> list[str]:
    return list(
        AuditEvent.objects.filter(**filters)
        .order_by("sequence")
        .values_list("event_type", flat=True)
    )


def test_each_step_writes_exactly_one_event(users, simulator):
    alias_request = submit(users["supervisor"])
    assert types() == [Type.REQUEST_CREATED]
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    assert types() == [
        Type.REQUEST_CREATED,
        Type.REQUEST_APPROVED,
        Type.REQUEST_CALL_STARTED,
        Type.VICIDIAL_CALL,
        Type.REQUEST_SUCCEEDED,
    ]
    other = submit(users["supervisor"], alias_id="other_one")
    services.alias_request_reject(request_id=other.pk, actor=users["admin"], note="No.")
    third = submit(users["supervisor"], alias_id="third_one")
    services.alias_request_cancel(request_id=third.pk, actor=users["supervisor"])
    assert types(request=other) == [Type.REQUEST_CREATED, Type.REQUEST_REJECTED]
    assert types(request=third) == [Type.REQUEST_CREATED, Type.REQUEST_CANCELLED]


def test_refused_step_writes_nothing(users):
    both = users["admin"]
    both.groups.add(*users["supervisor"].groups.all())
    alias_request = submit(both)
    before = AuditEvent.objects.count()
    with pytest.raises(FourEyesViolation):
        services.alias_request_reject(request_id=alias_request.pk, actor=both, note="x")
    services.alias_request_cancel(request_id=alias_request.pk, actor=both)
    before = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition):
        services.alias_request_cancel(request_id=alias_request.pk, actor=both)
    assert AuditEvent.objects.count() == before


def test_events_carry_who_where_and_one_correlation_id_per_action(client_for, users, simulator):
    alias_request = submit(users["supervisor"], logins="cc100,bb100")
    admin = client_for("admin", HTTP_USER_AGENT="Firefox test", REMOTE_ADDR="192.0.2.7")
    admin.post(reverse("aliases:request_approve", args=[alias_request.pk]), {"note": "fine"})
    approval_events = list(
        AuditEvent.objects.filter(request=alias_request).exclude(event_type=Type.REQUEST_CREATED)
    )
    assert [e.event_type for e in approval_events[::-1]] == [
        Type.REQUEST_APPROVED,
        Type.REQUEST_CALL_STARTED,
        Type.VICIDIAL_CALL,
        Type.REQUEST_SUCCEEDED,
    ]
    assert len({e.correlation_id for e in approval_events}) == 1
    for event in approval_events:
        assert (event.actor, event.actor_username, event.actor_role) == (
            users["admin"],
            "admin",
            "Admin",
        )
        assert (event.source_ip, event.user_agent) == ("192.0.2.7", "Firefox test")
        assert event.extensions == ["cc100", "bb100"]
        assert event.occurred_at.utcoffset().total_seconds() == 0
    approved = approval_events[-1]
    assert approved.changes["status"] == ["pending", "queued"]
    assert approved.changes["decided_by"] == [None, "admin"]
    call_event = AuditEvent.objects.get(event_type=Type.VICIDIAL_CALL)
    assert call_event.outcome == "succeeded"
    assert call_event.changes["response_body"].startswith("SUCCESS: add_phone_alias")


def test_what_a_reviewer_relies_on_is_in_the_hashed_event_that_introduced_it(users, simulator):
    alias_request = submit(
        users["supervisor"],
        alias_name="Night desk",
        logins="1001,cc100",
        justification="Night shift needs one number.",
    )
    created = audit.canonical_content(AuditEvent.objects.get(event_type=Type.REQUEST_CREATED))
    assert created["changes"] == {
        "status": [None, "pending"],
        "kind": "add",
        "server": "default",
        "alias_id": [None, "sales_desk"],
        "alias_name": [None, "Night desk"],
        "phone_logins": [None, ["1001", "cc100"]],
        "justification": [None, "Night shift needs one number."],
    }
    services.alias_request_approve(
        request_id=alias_request.pk, actor=users["admin"], note="Checked with the floor."
    )
    approved = AuditEvent.objects.get(event_type=Type.REQUEST_APPROVED)
    assert audit.canonical_content(approved)["reason"] == "Checked with the floor."
    other = submit(users["supervisor"], alias_id="other_one")
    services.alias_request_reject(request_id=other.pk, actor=users["admin"], note="Duplicate.")
    rejected = AuditEvent.objects.get(event_type=Type.REQUEST_REJECTED)
    assert audit.canonical_content(rejected)["reason"] == "Duplicate."
    # The request row can still be edited; the hashed event keeps what was asked.
    AliasRequest.objects.filter(pk=alias_request.pk).update(justification="edited later")
    assert verify().startswith("OK: ")


def test_login_failures_successes_and_denials_are_recorded(client, client_for, users):
    client.post(
        reverse("login"),
        {"username": "auditor", "password": "Guess-7f3k"},
        REMOTE_ADDR="198.51.100.1",
    )
    failed = AuditEvent.objects.get(event_type=Type.LOGIN_FAILED)
    assert (failed.actor, failed.actor_username, failed.source_ip) == (
        None,
        "auditor",
        "198.51.100.1",
    )
    assert "Guess-7f3k" not in json.dumps(audit.export_line(failed))

    client.post(reverse("login"), {"username": "auditor", "password": PASSWORD})
    assert AuditEvent.objects.filter(
        event_type=Type.LOGIN_SUCCEEDED, actor=users["auditor"]
    ).exists()

    response = client_for("auditor").get(reverse("aliases:request_new"))
    assert response.status_code == 403
    denied = AuditEvent.objects.get(event_type=Type.PERMISSION_DENIED)
    assert denied.actor == users["auditor"]
    assert "GET /requests/new/" in denied.reason


def test_the_orm_refuses_to_change_or_delete_events(users):
    submit(users["supervisor"])
    event = AuditEvent.objects.get()
    event.reason = "rewritten"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().reason == ""


@pytest.fixture
def trail(users):
    for number in range(5):
        submit(users["supervisor"], alias_id=f"trail_{number}")
    return list(AuditEvent.objects.order_by("sequence"))


def test_verify_audit_accepts_an_intact_trail(trail):
    assert verify() == f"OK: 5 events, head #5 {trail[-1].hash}\n"


def test_verify_audit_names_an_edited_event(trail):
    tamper("UPDATE aliases_auditevent SET reason = %s WHERE sequence = 3", ["edited"])
    with pytest.raises(CommandError, match="event #3 was altered"):
        verify()


def test_verify_audit_names_a_rewrite_re_hashed_without_the_key(trail):
    rewrite(3, reason="edited")
    with pytest.raises(CommandError, match="event #3: its MAC does not verify with key 'run'"):
        verify()


def test_verify_audit_names_an_edit_re_hashed_and_re_keyed_that_breaks_the_next_link(trail):
    event = trail[2]
    content = audit.canonical_content(event) | {"reason": "edited"}
    forged = audit.chain_hash(content, event.prev_hash)
    mac = audit.key_ring().mac(event.key_id, forged)
    tamper(
        "UPDATE aliases_auditevent SET reason = 'edited', hash = %s, mac = %s WHERE sequence = 3",
        [forged, mac],
    )
    with pytest.raises(CommandError, match="event #4 does not link to #3"):
        verify()


def test_verify_audit_names_a_removed_middle_event(trail):
    tamper("DELETE FROM aliases_auditeventextension WHERE event_id = %s", [trail[1].pk])
    tamper("DELETE FROM aliases_auditevent WHERE sequence = 2")
    with pytest.raises(CommandError, match="event #2 is missing"):
        verify()


def test_verify_audit_without_digests_still_sees_a_head_mismatch(trail):
    tamper("DELETE FROM aliases_auditeventextension WHERE event_id = %s", [trail[-1].pk])
    tamper("DELETE FROM aliases_auditevent WHERE sequence = 5")
    with pytest.raises(CommandError, match="head says #5"):
        verify()


@pytest.mark.postgres_only
def test_concurrent_writers_keep_one_unbroken_chain(transactional_db):
    writers, events_each = 8, 15

    def write(number: int) -> None:
        for index in range(events_each):
            with transaction.atomic():
                audit.record(event_type=Type.AUDIT_VIEWED, reason=f"writer {number} #{index}")

    assert race(writers, write) == [None] * writers
    report = audit.verify_chain()
    assert report.ok, report.problem
    assert report.count == writers * events_each
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * events_each + 1))
