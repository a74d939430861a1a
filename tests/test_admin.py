"""The Django admin: exact search, actions through the services, auditors read-only."""

import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.urls import reverse

from aliases.models import AliasRequest, AuditDigest, VicidialCall

from .base import submit
from .tampering import make_signing_key

Status = AliasRequest.Status
CHANGELIST = reverse("admin:aliases_aliasrequest_changelist")


def run_action(client, action, requests, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in requests], **extra}
    return client.post(CHANGELIST, data, follow=True)


def test_search_by_exact_login_alias_and_requester(client_for, users):
    submit(users["supervisor"], alias_id="exact_one", logins="1001")
    submit(users["supervisor2"], alias_id="longer_one", logins="10010")
    admin = client_for("admin")

    def found(term):
        response = admin.get(CHANGELIST, {"q": term})
        return {r.alias_id for r in response.context["cl"].result_list}

    assert found("1001") == {"exact_one"}
    assert found("10010") == {"longer_one"}
    assert found("EXACT_ONE") == {"exact_one"}
    assert found("supervisor2") == {"longer_one"}
    assert found("100") == set()


def test_reject_action_asks_for_a_note_then_uses_the_service(client_for, users):
    alias_request = submit(users["supervisor"])
    admin = client_for("admin")
    response = run_action(admin, "reject_selected", [alias_request])
    assert "Note" in response.content.decode()
    alias_request.refresh_from_db()
    assert alias_request.status == Status.PENDING

    response = run_action(admin, "reject_selected", [alias_request], apply="1", note="")
    assert "reason for the rejection" in response.content.decode()
    run_action(admin, "reject_selected", [alias_request], apply="1", note="Not needed.")
    alias_request.refresh_from_db()
    assert (alias_request.status, alias_request.decided_by) == (Status.REJECTED, users["admin"])


def test_approve_action_calls_vicidial_and_keeps_four_eyes(client_for, users, simulator):
    mine = submit(users["supervisor"], alias_id="one_a")
    admin_user = users["admin"]
    admin_user.groups.add(*users["supervisor"].groups.all())
    own = submit(admin_user, alias_id="own_a", logins="cc100")
    response = run_action(client_for("admin"), "approve_selected", [mine, own], apply="1")
    page = response.content.decode()
    mine.refresh_from_db()
    own.refresh_from_db()
    assert mine.status == Status.SUCCEEDED
    assert own.status == Status.PENDING
    assert "cannot approve your own request" in page
    assert simulator.state.alias("one_a") is not None
    assert VicidialCall.objects.filter(request=own).count() == 0


def test_auditor_admin_is_read_only(client_for, users):
    alias_request = submit(users["supervisor"])
    auditor = client_for("auditor")
    response = auditor.get(CHANGELIST)
    assert response.status_code == 200
    assert "approve_selected" not in response.content.decode()
    change_url = reverse("admin:aliases_aliasrequest_change", args=[alias_request.pk])
    detail = auditor.get(change_url)
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    response = run_action(auditor, "reject_selected", [alias_request], apply="1", note="x")
    alias_request.refresh_from_db()
    assert alias_request.status == Status.PENDING
    assert auditor.get(reverse("admin:aliases_aliasrequest_add")).status_code == 403
    delete_url = reverse("admin:aliases_aliasrequest_delete", args=[alias_request.pk])
    assert auditor.post(delete_url, {"post": "yes"}).status_code == 403
    assert AliasRequest.objects.filter(pk=alias_request.pk).exists()


@pytest.mark.parametrize("persona", ["admin", "auditor"])
def test_nobody_adds_or_edits_calls_in_the_admin(client_for, persona):
    client = client_for(persona)
    assert client.get(reverse("admin:aliases_vicidialcall_changelist")).status_code == 200
    assert client.get(reverse("admin:aliases_vicidialcall_add")).status_code == 403


@pytest.mark.parametrize("persona", ["supervisor", "outsider"])
def test_supervisors_have_no_admin(client_for, persona):
    response = client_for(persona).get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_every_audit_table_answers_the_same_exact_keys(client_for, users, simulator):
    from aliases import services
    from aliases.models import AuditEvent, Extension

    Extension.objects.create(login="1001", protocol="SIP")
    Extension.objects.create(login="10010", protocol="SIP")
    mine = submit(users["supervisor"], alias_id="keyed_1", logins="1001")
    services.alias_request_approve(request_id=mine.pk, actor=users["admin"])
    other = submit(users["supervisor2"], alias_id="keyed_2", logins="10010")
    approved = AuditEvent.objects.get(request=mine, event_type=AuditEvent.Type.REQUEST_APPROVED)
    auditor = client_for("auditor")

    def found(model: str, term: str) -> set[str]:
        url = reverse(f"admin:aliases_{model}_changelist")
        return {str(row) for row in auditor.get(url, {"q": term}).context["cl"].result_list}

    call = str(VicidialCall.objects.get())
    by_correlation = approved.correlation_id
    assert found("aliasrequest", by_correlation) == {str(mine)}
    assert found("vicidialcall", by_correlation) == {call}
    assert found("extension", by_correlation) == {"1001 (SIP)"}
    assert found("vicidialcall", "admin") == {call}
    assert found("vicidialcall", "KEYED_1") == {call}
    assert found("extension", "keyed_2") == {"10010 (SIP)"}
    assert found("aliasrequest", "10010") == {str(other)}
    assert found("aliasrequest", "supervisor2") == {str(other)}
    assert found("aliasrequest", "1001 ") == {str(mine)}


@pytest.fixture
def staff_supervisor(users):
    """A supervisor who also has is_staff, e.g. to change their own password in the admin."""
    supervisor = users["supervisor"]
    supervisor.is_staff = True
    supervisor.save()
    return supervisor


def test_a_staff_supervisor_sees_only_own_requests_in_the_admin(
    client_for, users, staff_supervisor
):
    mine = submit(staff_supervisor, alias_id="mine_1", justification="Mine, and only mine.")
    theirs = submit(
        users["supervisor2"], alias_id="theirs_1", justification="Secret reorganisation plan."
    )
    client = client_for("supervisor")

    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert [r.alias_id for r in listing.context["cl"].result_list] == ["mine_1"]
    assert client.get(CHANGELIST, {"q": "theirs_1"}).context["cl"].result_list.count() == 0

    own = client.get(reverse("admin:aliases_aliasrequest_change", args=[mine.pk]))
    assert own.status_code == 200
    assert "Mine, and only mine." in own.content.decode()
    # Like the portal's 404: the admin answers as for an id that does not exist.
    missing = theirs.pk + 1000
    for view in ("change", "history"):
        seen = client.get(reverse(f"admin:aliases_aliasrequest_{view}", args=[theirs.pk]))
        absent = client.get(reverse(f"admin:aliases_aliasrequest_{view}", args=[missing]))
        assert (seen.status_code, seen["Location"]) == (absent.status_code, absent["Location"])
        followed = client.get(seen["Location"]).content.decode()
        assert "Secret reorganisation plan." not in followed
        assert "theirs_1" not in followed


def test_a_staff_supervisor_cannot_decide_through_admin_actions(
    client_for, users, staff_supervisor
):
    theirs = submit(users["supervisor2"], alias_id="theirs_2")
    client = client_for("supervisor")
    assert "approve_selected" not in client.get(CHANGELIST).content.decode()
    run_action(client, "reject_selected", [theirs], apply="1", note="Not yours.")
    theirs.refresh_from_db()
    assert theirs.status == Status.PENDING


@pytest.fixture
def signed_digest(settings, tmp_path, users):
    """One digest, signed by audit_checkpoint as in production."""
    private, _public = make_signing_key(tmp_path)
    settings.AUDIT_SIGNING_KEY_FILE = str(private)
    submit(users["supervisor"])
    call_command("audit_checkpoint", stdout=io.StringIO())
    return AuditDigest.objects.get()


@pytest.mark.parametrize("persona", ["admin", "auditor"])
def test_admins_and_auditors_read_the_signed_digests_in_the_admin(
    client_for, signed_digest, persona
):
    client = client_for(persona)
    listing = client.get(reverse("admin:aliases_auditdigest_changelist"))
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [signed_digest]
    detail = client.get(reverse("admin:aliases_auditdigest_change", args=[signed_digest.pk]))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert signed_digest.signature in page and signed_digest.previous_sha256 in page
    assert 'name="_save"' not in page
    assert client.get(reverse("admin:aliases_auditdigest_add")).status_code == 403
    delete_url = reverse("admin:aliases_auditdigest_delete", args=[signed_digest.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert "Audit digests" in client.get(reverse("admin:index")).content.decode()


def test_a_staff_supervisor_cannot_see_the_digests(client_for, signed_digest, staff_supervisor):
    client = client_for("supervisor")
    assert client.get(reverse("admin:aliases_auditdigest_changelist")).status_code == 403
    change_url = reverse("admin:aliases_auditdigest_change", args=[signed_digest.pk])
    assert client.get(change_url).status_code == 403
    assert "Audit digests" not in client.get(reverse("admin:index")).content.decode()


def test_the_bulk_approval_lists_what_each_request_will_do(client_for, users, simulator):
    from aliases import services
    from aliases.models import Alias

    done = services.alias_request_approve(
        request_id=submit(users["supervisor"], alias_id="old_desk", logins="1001").pk,
        actor=users["admin"],
    )
    disable = services.alias_disable_submit(
        requester=users["supervisor"], alias_pk=done.alias_record_id, justification="Gone."
    )
    add = submit(users["supervisor"], alias_id="new_desk", alias_name="New desk", logins="1002")
    page = run_action(client_for("admin"), "approve_selected", [disable, add]).content.decode()
    assert "<td>Disable</td>" in page and "<td>Add</td>" in page
    assert "removed from VICIdial" in page and "New desk: 1002" in page
    assert Alias.objects.get().is_active  # nothing is done before the admin confirms
