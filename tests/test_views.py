"""Each portal view: it works, wrong methods get 405, outsiders 404, wrong roles 403."""

import logging
import uuid

import pytest
from django.urls import reverse

from aliases.models import AliasRequest, VicidialCall

from .base import submit

Status = AliasRequest.Status


@pytest.fixture
def pending(users):
    return submit(users["supervisor"])


def test_anonymous_is_sent_to_login(client, pending):
    for url in [
        reverse("aliases:home"),
        reverse("aliases:request_list"),
        reverse("aliases:request_new"),
        reverse("aliases:request_detail", args=[pending.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("action", ["approve", "reject", "cancel"])
def test_mutations_refuse_get(client_for, pending, action):
    response = client_for("admin").get(reverse(f"aliases:request_{action}", args=[pending.pk]))
    assert response.status_code == 405
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_home_shows_each_role_what_it_needs(client_for, pending):
    supervisor_page = client_for("supervisor").get(reverse("aliases:home")).content.decode()
    assert 'data-testid="my-requests"' in supervisor_page
    assert 'data-testid="pending-queue"' not in supervisor_page
    assert "sales_desk" in supervisor_page

    admin_page = client_for("admin").get(reverse("aliases:home")).content.decode()
    assert 'data-testid="pending-queue"' in admin_page
    assert "sales_desk" in admin_page

    auditor_page = client_for("auditor").get(reverse("aliases:home")).content.decode()
    assert "Latest requests" in auditor_page
    assert 'data-testid="pending-queue"' not in auditor_page


def test_new_request_form_rejects_what_vicidial_would_mangle(client_for):
    response = client_for("supervisor").post(
        reverse("aliases:request_new"),
        {
            "alias_id": "Support Desk!",
            "alias_name": 'A&B "quoted"',
            "phone_logins": "cc100,bb100,",
            "justification": "x",
            "submission_token": uuid.uuid4(),
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "space, '!'" in form.errors["alias_id"][0]
    assert "'&', '\"'" in form.errors["alias_name"][0]
    assert "empty entry" in form.errors["phone_logins"][0]
    assert not AliasRequest.objects.exists()


def test_new_request_form_refuses_a_taken_alias_id(client_for, pending):
    response = client_for("supervisor2").post(
        reverse("aliases:request_new"),
        {
            "alias_id": "SALES_DESK",
            "alias_name": "Sales",
            "phone_logins": "1001",
            "justification": "x",
            "submission_token": uuid.uuid4(),
        },
    )
    assert response.status_code == 200
    assert "already has a live request: #" in response.content.decode()
    assert AliasRequest.objects.count() == 1


@pytest.mark.parametrize("persona", ["auditor", "outsider"])
def test_new_request_is_for_supervisors_and_admins_only(client_for, persona):
    assert client_for(persona).get(reverse("aliases:request_new")).status_code == 403
    assert client_for("admin").get(reverse("aliases:request_new")).status_code == 200


def test_other_supervisor_gets_404_like_a_missing_id(client_for, pending):
    other = client_for("supervisor2")
    assert other.get(reverse("aliases:request_detail", args=[pending.pk])).status_code == 404
    assert other.get(reverse("aliases:request_detail", args=[pending.pk + 999])).status_code == 404
    response = other.post(reverse("aliases:request_cancel", args=[pending.pk]))
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


@pytest.mark.parametrize("persona", ["admin", "auditor"])
def test_admins_and_auditors_see_any_request(client_for, pending, persona):
    response = client_for(persona).get(reverse("aliases:request_detail", args=[pending.pk]))
    assert response.status_code == 200


@pytest.mark.parametrize("persona", ["supervisor", "supervisor2", "auditor", "outsider"])
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_only_admins_decide_over_http(client_for, pending, persona, action):
    response = client_for(persona).post(
        reverse(f"aliases:request_{action}", args=[pending.pk]), {"note": "n"}
    )
    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    assert not VicidialCall.objects.exists()


@pytest.mark.parametrize("persona", ["admin", "auditor"])
def test_cancel_is_for_the_requester(client_for, pending, persona):
    response = client_for(persona).post(reverse("aliases:request_cancel", args=[pending.pk]))
    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_requester_cancels_own_pending_request(client_for, pending):
    response = client_for("supervisor").post(
        reverse("aliases:request_cancel", args=[pending.pk]), follow=True
    )
    assert "is cancelled" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Status.CANCELLED


def test_reject_over_http_needs_a_note(client_for, pending):
    admin = client_for("admin")
    url = reverse("aliases:request_reject", args=[pending.pk])
    response = admin.post(url, {"note": ""}, follow=True)
    assert "reason for the rejection" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    admin.post(url, {"note": "Duplicate of the sales queue."})
    pending.refresh_from_db()
    assert pending.status == Status.REJECTED


def test_admin_cannot_approve_own_request_over_http(client_for, users):
    admin_user = users["admin"]
    admin_user.groups.add(*users["supervisor"].groups.all())
    alias_request = submit(admin_user)
    response = client_for("admin").post(
        reverse("aliases:request_approve", args=[alias_request.pk]), follow=True
    )
    assert "cannot approve your own request" in response.content.decode()
    assert "decision-form" not in response.content.decode()
    alias_request.refresh_from_db()
    assert alias_request.status == Status.PENDING


def test_list_search_by_exact_login_does_not_match_prefixes(client_for, users):
    submit(users["supervisor"], alias_id="exact_one", logins="1001")
    submit(users["supervisor"], alias_id="longer_one", logins="10010")
    response = client_for("auditor").get(reverse("aliases:request_list"), {"login": "1001"})
    page = response.content.decode()
    assert "exact_one" in page
    assert "longer_one" not in page


def test_supervisor_list_shows_only_own_requests(client_for, users):
    submit(users["supervisor"], alias_id="mine_1")
    submit(users["supervisor2"], alias_id="theirs_1")
    page = client_for("supervisor").get(reverse("aliases:request_list")).content.decode()
    assert "mine_1" in page
    assert "theirs_1" not in page


def test_double_submit_creates_one_request(client_for):
    supervisor = client_for("supervisor")
    form = supervisor.get(reverse("aliases:request_new")).context["form"]
    data = {
        "alias_id": "twice_1",
        "alias_name": "Twice",
        "phone_logins": "1001",
        "justification": "x",
        "submission_token": form.initial["submission_token"],
    }
    first = supervisor.post(reverse("aliases:request_new"), data)
    second = supervisor.post(reverse("aliases:request_new"), data, follow=True)
    alias_request = AliasRequest.objects.get()
    assert first["Location"] == reverse("aliases:request_detail", args=[alias_request.pk])
    assert second.redirect_chain[-1][0] == first["Location"]
    assert f"already submitted as request #{alias_request.pk}" in second.content.decode()


def test_a_form_without_its_token_is_refused(client_for):
    response = client_for("supervisor").post(
        reverse("aliases:request_new"),
        {"alias_id": "no_token", "alias_name": "x y", "phone_logins": "1001", "justification": "x"},
    )
    assert "form had expired" in response.content.decode()
    assert response.context["form"]["submission_token"].value()
    assert not AliasRequest.objects.exists()


def test_someone_elses_token_is_not_a_way_in(client_for, users):
    token = uuid.uuid4()
    submit(users["supervisor"], alias_id="first_1")
    AliasRequest.objects.update(submission_token=token)
    response = client_for("supervisor2").post(
        reverse("aliases:request_new"),
        {
            "alias_id": "second_1",
            "alias_name": "x y",
            "phone_logins": "1001",
            "justification": "x",
            "submission_token": token,
        },
    )
    assert response.status_code == 403
    assert AliasRequest.objects.count() == 1


def test_admin_queue_shows_the_oldest_fifty_and_links_to_the_rest(client_for, users):
    for number in range(52):
        submit(users["supervisor"], alias_id=f"queued_{number}")
    page = client_for("admin").get(reverse("aliases:home"))
    shown = [alias_request.alias_id for alias_request in page.context["pending"]]
    assert shown == [f"queued_{number}" for number in range(50)]
    assert "All 52 waiting requests" in page.content.decode()


def test_a_refusal_is_logged_as_one_line_without_a_traceback(client_for, pending, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    response = client_for("auditor").post(
        reverse("aliases:request_approve", args=[pending.pk]), {"note": "n"}
    )
    assert response.status_code == 403
    refusals = [record for record in caplog.records if record.name == "django.request"]
    assert len(refusals) == 1
    assert refusals[0].exc_info is None
    assert (
        refusals[0].getMessage()
        == f"Forbidden (Permission denied): /requests/{pending.pk}/approve/"
    )
    assert "Traceback" not in caplog.text


def test_a_refusal_with_a_reason_logs_the_reason_on_the_same_line(client_for, users, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    token = uuid.uuid4()
    submit(users["supervisor"], alias_id="first_1")
    AliasRequest.objects.update(submission_token=token)
    client_for("supervisor2").post(
        reverse("aliases:request_new"),
        {
            "alias_id": "x_1",
            "alias_name": "x y",
            "phone_logins": "1001",
            "justification": "x",
            "submission_token": token,
        },
    )
    (record,) = [record for record in caplog.records if record.name == "django.request"]
    assert record.exc_info is None
    assert record.getMessage().endswith("(This form was issued to someone else.)")
    assert "\n" not in record.getMessage()


def test_a_search_that_is_not_valid_lists_nothing(client_for, users):
    submit(users["supervisor"], alias_id="any_one")
    response = client_for("auditor").get(reverse("aliases:request_list"), {"status": "nonsense"})
    assert response.status_code == 200
    assert list(response.context["page"].object_list) == []
    page = response.content.decode()
    assert "Select a valid choice." in page
    assert "any_one" not in page
