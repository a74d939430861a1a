import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from aliases import services
from aliases.errors import DuplicateAliasId, FourEyesViolation, InvalidTransition
from aliases.models import AliasRequest, RequestedLogin, VicidialCall

from .base import submit

Status = AliasRequest.Status


def test_submit_stores_one_row_per_login_in_order(users):
    alias_request = submit(users["supervisor"], logins="1002, 1001,cc100")
    assert alias_request.status == Status.PENDING
    assert alias_request.logins_in_order() == ["1002", "1001", "cc100"]
    assert RequestedLogin.objects.filter(login__lower="cc100").count() == 1


@pytest.mark.parametrize("persona", ["auditor", "outsider"])
def test_only_supervisors_and_admins_submit(users, persona):
    with pytest.raises(PermissionDenied):
        submit(users[persona])
    assert not AliasRequest.objects.exists()


def test_an_admin_may_ask_but_another_admin_decides(users):
    asked = submit(users["admin"])
    with pytest.raises(FourEyesViolation):
        services.alias_request_approve(request_id=asked.pk, actor=users["admin"])
    rejected = services.alias_request_reject(request_id=asked.pk, actor=users["admin2"], note="No.")
    assert rejected.status == AliasRequest.Status.REJECTED


def test_submit_revalidates_even_without_a_form(users):
    with pytest.raises(ValidationError):
        submit(users["supervisor"], alias_id="Support Desk!")
    with pytest.raises(ValidationError):
        submit(users["supervisor"], logins="1001,")
    with pytest.raises(ValidationError):
        submit(users["supervisor"], justification="   ")
    assert not AliasRequest.objects.exists()


@pytest.mark.parametrize("held_by", [Status.PENDING, Status.CALLING, Status.NEEDS_VERIFICATION])
def test_alias_id_held_in_any_letter_case(users, held_by):
    first = submit(users["supervisor"], alias_id="Sales_Desk")
    AliasRequest.objects.filter(pk=first.pk).update(status=held_by)
    with pytest.raises(DuplicateAliasId, match=f"#{first.pk}"):
        submit(users["supervisor2"], alias_id="sales_desk")


@pytest.mark.parametrize("released_by", [Status.REJECTED, Status.CANCELLED, Status.FAILED])
def test_alias_id_free_again_after_a_final_no(users, released_by):
    first = submit(users["supervisor"], alias_id="sales_desk")
    AliasRequest.objects.filter(pk=first.pk).update(status=released_by)
    second = submit(users["supervisor2"], alias_id="SALES_DESK")
    assert second.pk != first.pk


def test_database_refuses_two_live_requests_for_one_alias_id(users):
    submit(users["supervisor"], alias_id="sales_desk")
    with pytest.raises(IntegrityError), transaction.atomic():
        AliasRequest.objects.create(
            alias_id="SALES_desk", alias_name="x y", justification="x", requester=users["admin"]
        )


def test_database_refuses_self_decision(users):
    alias_request = submit(users["supervisor"])
    with pytest.raises(IntegrityError), transaction.atomic():
        AliasRequest.objects.filter(pk=alias_request.pk).update(decided_by=users["supervisor"])


def test_reject_records_decider_and_note(users):
    alias_request = submit(users["supervisor"])
    services.alias_request_reject(
        request_id=alias_request.pk, actor=users["admin"], note="Use the existing queue."
    )
    alias_request.refresh_from_db()
    assert alias_request.status == Status.REJECTED
    assert alias_request.decided_by == users["admin"]
    assert alias_request.decision_note == "Use the existing queue."
    assert alias_request.completed_at is not None


def test_reject_needs_a_reason(users):
    alias_request = submit(users["supervisor"])
    with pytest.raises(ValidationError):
        services.alias_request_reject(request_id=alias_request.pk, actor=users["admin"], note=" ")
    alias_request.refresh_from_db()
    assert alias_request.status == Status.PENDING


@pytest.mark.parametrize("persona", ["supervisor2", "auditor", "outsider"])
def test_only_admins_decide(users, persona):
    alias_request = submit(users["supervisor"])
    with pytest.raises(PermissionDenied):
        services.alias_request_approve(request_id=alias_request.pk, actor=users[persona])
    with pytest.raises(PermissionDenied):
        services.alias_request_reject(request_id=alias_request.pk, actor=users[persona], note="n")
    alias_request.refresh_from_db()
    assert alias_request.status == Status.PENDING
    assert not VicidialCall.objects.exists()


def test_four_eyes_even_for_a_user_with_both_roles(users):
    both = users["admin"]
    both.groups.add(*users["supervisor"].groups.all())
    alias_request = submit(both)
    with pytest.raises(FourEyesViolation):
        services.alias_request_approve(request_id=alias_request.pk, actor=both)
    with pytest.raises(FourEyesViolation):
        services.alias_request_reject(request_id=alias_request.pk, actor=both, note="no")
    alias_request.refresh_from_db()
    assert alias_request.status == Status.PENDING
    assert not VicidialCall.objects.exists()


def test_cancel_only_own_pending(users):
    alias_request = submit(users["supervisor"])
    with pytest.raises(PermissionDenied):
        services.alias_request_cancel(request_id=alias_request.pk, actor=users["supervisor2"])
    services.alias_request_cancel(request_id=alias_request.pk, actor=users["supervisor"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.CANCELLED
    with pytest.raises(InvalidTransition):
        services.alias_request_cancel(request_id=alias_request.pk, actor=users["supervisor"])


def test_decided_request_cannot_be_decided_again(users):
    alias_request = submit(users["supervisor"])
    services.alias_request_reject(request_id=alias_request.pk, actor=users["admin"], note="No.")
    with pytest.raises(InvalidTransition, match=r"already decided \(rejected\)"):
        services.alias_request_approve(request_id=alias_request.pk, actor=users["admin2"])
    with pytest.raises(InvalidTransition):
        services.alias_request_cancel(request_id=alias_request.pk, actor=users["supervisor"])
    alias_request.refresh_from_db()
    assert alias_request.status == Status.REJECTED
    assert alias_request.decided_by == users["admin"]
