"""Bulk approval: many requests approved at once, each under its own lock and four-eyes,
their calls queued for the worker; pausing and resuming them; the batch page."""

import re
import secrets
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse

from aliases import services
from aliases.errors import InvalidTransition, VicidialCallsStopped
from aliases.models import AliasRequest, AuditEvent, RequestBatch, VicidialCircuit
from aliases.selectors_batches import batch_progress
from aliases.services import bulk_approval, queue

from .base import submit
from .inventory_helpers import text_of

Status = AliasRequest.Status
Type = AuditEvent.Type


def several(requester, count: int, prefix: str = "bulk") -> list[AliasRequest]:
    return [
        submit(requester, alias_id=f"{prefix}_{n}", logins=f"10{n % 2 + 1:02d}")
        for n in range(count)
    ]


def statuses(requests) -> list[str]:
    by_pk = dict(AliasRequest.objects.values_list("pk", "status"))
    return [by_pk[alias_request.pk] for alias_request in requests]


def add_calls(simulator) -> list[str]:
    received = simulator.state.requests_received
    return [r.params["alias_id"] for r in received if r.params.get("function") == "add_phone_alias"]


def make_upload(creator, **fields) -> RequestBatch:
    """A CSV upload's batch, as the upload would leave it (each file is uploaded once)."""
    return RequestBatch.objects.create(
        kind="upload", created_by=creator, file_sha256=secrets.token_hex(32), **fields
    )


@pytest.fixture
def held_calls(monkeypatch):
    """The bulk approval's calls stay queued: their ids are collected instead of enqueued."""
    held: list[int] = []
    monkeypatch.setattr(bulk_approval, "call_enqueue", lambda pk, context=None: held.append(pk))
    return held


@pytest.fixture
def admin_who_asks(users):
    """The admin, who may also ask for changes (another admin decides them)."""
    users["admin"].groups.add(*users["supervisor"].groups.all())
    return users["admin"]


# The service.


def test_each_selected_request_is_approved_and_called_in_order(users, simulator):
    requests = several(users["supervisor"], 3)
    batch = services.requests_approve_many(
        request_ids=[r.pk for r in requests], actor=users["admin"], note="Team move."
    )
    assert statuses(requests) == [Status.SUCCEEDED] * 3
    assert add_calls(simulator) == [r.alias_id for r in requests]
    assert (batch.kind, batch.created_by, batch.note) == ("approval", users["admin"], "Team move.")
    assert list(batch.requests().order_by("pk")) == requests
    for alias_request in AliasRequest.objects.filter(pk__in=[r.pk for r in requests]):
        assert (alias_request.decided_by, alias_request.queued_by) == (users["admin"],) * 2
        assert alias_request.decision_note == "Team move."
    approvals = AuditEvent.objects.filter(event_type=Type.REQUEST_APPROVED).order_by("sequence")
    assert [event.request_id for event in approvals] == [r.pk for r in requests]
    for event in approvals:
        assert event.changes["batch"] == batch.pk
        assert event.changes["preflight_shown"] == (
            f"approved in bulk (batch #{batch.pk}): no checks were shown"
        )
        assert "preflight" not in event.changes  # nothing read VICIdial's database
    summary = AuditEvent.objects.get(event_type=Type.BATCH_APPROVED)
    assert summary.request_id is None
    assert summary.actor == users["admin"]
    assert summary.changes["batch"] == batch.pk
    assert summary.changes["queued"] == [r.pk for r in requests]
    assert summary.changes["skipped"] == []


def test_own_requests_are_skipped_and_listed_four_eyes_per_request(
    users, simulator, admin_who_asks
):
    theirs = submit(users["supervisor"], alias_id="their_desk")
    own = submit(admin_who_asks, alias_id="own_desk", logins="cc100")
    colleagues = submit(users["admin2"], alias_id="colleague_desk", logins="1002")
    batch = services.requests_approve_many(
        request_ids=[theirs.pk, own.pk, colleagues.pk], actor=admin_who_asks
    )
    assert statuses([theirs, own, colleagues]) == [Status.SUCCEEDED, Status.PENDING, "succeeded"]
    assert batch.skipped == [
        {"request": own.pk, "alias_id": "own_desk", "reason": bulk_approval.SKIPPED_OWN}
    ]
    assert "own_desk" not in add_calls(simulator)
    own.refresh_from_db()
    assert own.approval_batch is None and own.decided_by is None
    summary = AuditEvent.objects.get(event_type=Type.BATCH_APPROVED)
    assert (summary.changes["queued"], summary.changes["skipped"]) == (
        [theirs.pk, colleagues.pk],
        [own.pk],
    )


def test_requests_no_longer_pending_are_skipped_with_their_status(users, simulator):
    pending = submit(users["supervisor"], alias_id="still_pending")
    rejected = submit(users["supervisor"], alias_id="was_rejected")
    cancelled = submit(users["supervisor"], alias_id="was_cancelled")
    earlier = submit(users["supervisor2"], alias_id="approved_before")
    services.alias_request_reject(request_id=rejected.pk, actor=users["admin2"], note="No.")
    services.alias_request_cancel(request_id=cancelled.pk, actor=users["supervisor"])
    services.alias_request_approve(request_id=earlier.pk, actor=users["admin2"])
    before = add_calls(simulator)

    selection = [pending.pk, rejected.pk, cancelled.pk, earlier.pk, 999_999, pending.pk]
    batch = services.requests_approve_many(request_ids=selection, actor=users["admin"])

    assert add_calls(simulator) == [*before, "still_pending"]
    assert [entry["request"] for entry in batch.skipped] == [
        rejected.pk,
        cancelled.pk,
        earlier.pk,
        999_999,
    ]
    reasons = {entry["request"]: entry["reason"] for entry in batch.skipped}
    assert reasons[rejected.pk] == "It was no longer pending: rejected."
    assert reasons[cancelled.pk] == "It was no longer pending: cancelled."
    assert reasons[earlier.pk] == "It was no longer pending: created in vicidial."
    assert reasons[999_999] == "No such request."
    for skipped in (rejected, cancelled, earlier):
        skipped.refresh_from_db()
        assert skipped.approval_batch is None
    assert list(batch.requests()) == [AliasRequest.objects.get(pk=pending.pk)]


def test_each_call_is_handed_to_the_worker_after_its_approval_commits(
    transactional_db, users, monkeypatch
):
    """A worker on another connection must find the request queued, not still pending."""
    seen = []

    def enqueue(pk, context=None):
        seen.append((pk, connection.in_atomic_block, AliasRequest.objects.get(pk=pk).status))

    monkeypatch.setattr(bulk_approval, "call_enqueue", enqueue)
    requests = several(users["supervisor"], 2)
    services.requests_approve_many(request_ids=[r.pk for r in requests], actor=users["admin"])
    assert seen == [(r.pk, False, Status.QUEUED) for r in requests]


def test_an_empty_selection_is_refused_and_creates_no_batch(users):
    with pytest.raises(ValidationError, match="Select at least one pending request"):
        services.requests_approve_many(request_ids=[], actor=users["admin"])
    assert not RequestBatch.objects.exists()


@pytest.mark.parametrize("persona", ["auditor", "supervisor", "outsider"])
def test_only_deciders_approve_in_bulk(users, persona):
    alias_request = submit(users["supervisor2"])
    with pytest.raises(PermissionDenied):
        services.requests_approve_many(request_ids=[alias_request.pk], actor=users[persona])
    assert statuses([alias_request]) == [Status.PENDING]
    assert not RequestBatch.objects.exists()


def test_stopped_calls_refuse_the_whole_selection_at_once(users, simulator):
    requests = several(users["supervisor"], 2)
    VicidialCircuit.objects.create(server="default", is_open=True, reason="Login incorrect")
    with pytest.raises(VicidialCallsStopped, match="rejected the portal's credentials"):
        services.requests_approve_many(request_ids=[r.pk for r in requests], actor=users["admin"])
    assert statuses(requests) == [Status.PENDING] * 2
    assert not RequestBatch.objects.exists()
    assert simulator.state.requests_received == []


def test_approving_an_upload_approves_its_pending_requests(users, simulator):
    upload = make_upload(users["supervisor"])
    requests = several(users["supervisor"], 3)
    AliasRequest.objects.filter(pk__in=[r.pk for r in requests]).update(upload_batch=upload)
    services.alias_request_cancel(request_id=requests[1].pk, actor=users["supervisor"])
    outside = submit(users["supervisor"], alias_id="not_uploaded")

    approval = services.batch_approve_upload(
        batch_id=upload.pk, actor=users["admin"], note="All fine."
    )

    assert approval.source_batch == upload
    assert approval.kind == "approval"
    assert statuses(requests) == [Status.SUCCEEDED, Status.CANCELLED, Status.SUCCEEDED]
    assert statuses([outside]) == [Status.PENDING]
    assert approval.skipped == []  # only the pending ones were selected
    with pytest.raises(InvalidTransition, match="No request of upload"):
        services.batch_approve_upload(batch_id=upload.pk, actor=users["admin"])
    with pytest.raises(InvalidTransition, match="not a CSV upload"):
        services.batch_approve_upload(batch_id=approval.pk, actor=users["admin"])


# Pausing and resuming.


def test_a_paused_batch_leaves_the_rest_queued_until_it_resumes(users, simulator, held_calls):
    requests = several(users["supervisor"], 3)
    batch = services.requests_approve_many(
        request_ids=[r.pk for r in requests], actor=users["admin"]
    )
    assert held_calls == [r.pk for r in requests]
    assert statuses(requests) == [Status.QUEUED] * 3
    assert queue.alias_request_call(requests[0].pk).startswith("called VICIdial")

    services.batch_pause(batch_id=batch.pk, actor=users["admin2"])
    outcome = queue.alias_request_call(requests[1].pk)

    assert (
        outcome
        == f"waiting: its bulk approval (batch #{batch.pk}) is paused; resuming it sends the call"
    )
    assert statuses(requests) == [Status.SUCCEEDED, Status.QUEUED, Status.QUEUED]
    assert add_calls(simulator) == [requests[0].alias_id]
    progress = batch_progress(RequestBatch.objects.get(pk=batch.pk))
    assert progress.waiting_reason.startswith("Paused by admin2")
    assert not progress.finished and progress.eta_seconds is None

    services.batch_resume(batch_id=batch.pk, actor=users["admin"])

    assert statuses(requests) == [Status.SUCCEEDED] * 3
    assert add_calls(simulator) == [r.alias_id for r in requests]
    events = AuditEvent.objects.filter(event_type__in=[Type.BATCH_PAUSED, Type.BATCH_RESUMED])
    assert [
        (e.event_type, e.actor.username, e.changes["batch"]) for e in events.order_by("sequence")
    ] == [
        (Type.BATCH_PAUSED, "admin2", batch.pk),
        (Type.BATCH_RESUMED, "admin", batch.pk),
    ]


def test_pause_and_resume_refuse_what_does_not_apply(users, simulator, held_calls):
    queued = services.requests_approve_many(
        request_ids=[submit(users["supervisor"], alias_id="waits").pk], actor=users["admin"]
    )
    done = services.requests_approve_many(
        request_ids=[submit(users["supervisor"], alias_id="goes").pk], actor=users["admin"]
    )
    queue.alias_request_call(done.requests().get().pk)
    upload = make_upload(users["supervisor"])
    admin = users["admin"]

    with pytest.raises(InvalidTransition, match="not paused; nothing to resume"):
        services.batch_resume(batch_id=queued.pk, actor=admin)
    with pytest.raises(InvalidTransition, match="no call left waiting"):
        services.batch_pause(batch_id=done.pk, actor=admin)
    with pytest.raises(InvalidTransition, match="is a CSV upload"):
        services.batch_pause(batch_id=upload.pk, actor=admin)
    services.batch_pause(batch_id=queued.pk, actor=admin)
    with pytest.raises(InvalidTransition, match="already paused"):
        services.batch_pause(batch_id=queued.pk, actor=admin)
    with pytest.raises(PermissionDenied):
        services.batch_resume(batch_id=queued.pk, actor=users["auditor"])
    assert RequestBatch.objects.get(pk=queued.pk).is_paused
    assert AuditEvent.objects.filter(event_type=Type.BATCH_PAUSED).count() == 1


def test_a_wrong_password_stops_the_batch_after_one_bad_login_until_resumed(
    users, simulator, settings
):
    right = settings.VICIDIAL_API_PASS
    settings.VICIDIAL_API_PASS = "Wrong-" + secrets.token_urlsafe(12)
    requests = several(users["supervisor"], 5)

    batch = services.requests_approve_many(
        request_ids=[r.pk for r in requests], actor=users["admin"]
    )

    assert simulator.state.users["6666"].failed_logins == 1
    assert len(add_calls(simulator)) == 1
    assert statuses(requests) == [Status.FAILED] + [Status.QUEUED] * 4
    assert VicidialCircuit.objects.get(server="default").is_open
    assert queue.alias_request_call(requests[1].pk).startswith("waiting: VICIdial server")
    progress = batch_progress(batch)
    assert progress.waiting_on_server and "rejected the portal's credentials" in (
        progress.waiting_reason
    )
    assert (progress.failed, progress.remaining, progress.finished) == (1, 4, False)

    settings.VICIDIAL_API_PASS = right
    services.vicidial_circuit_reset(actor=users["admin2"])

    assert statuses(requests) == [Status.FAILED] + [Status.SUCCEEDED] * 4
    assert simulator.state.users["6666"].failed_logins == 0
    assert batch_progress(batch).finished


# Progress.


def test_progress_counts_and_the_estimate_from_the_pace_so_far(users, held_calls):
    requests = several(users["supervisor"], 6)
    batch = services.requests_approve_many(
        request_ids=[r.pk for r in requests], actor=users["admin"]
    )
    start = batch.created_at
    early = batch_progress(batch, now=start + timedelta(seconds=5))
    assert (early.total, early.remaining, early.percent) == (6, 6, 0)
    assert early.eta_seconds is None and not early.finished and early.live

    ended = {Status.SUCCEEDED: requests[:2], Status.FAILED: requests[2:3]}
    ended[Status.NEEDS_VERIFICATION] = requests[3:4]
    for status, rows in ended.items():
        AliasRequest.objects.filter(pk__in=[r.pk for r in rows]).update(status=status)
    AliasRequest.objects.filter(pk=requests[4].pk).update(status=Status.CALLING)
    progress = batch_progress(batch, now=start + timedelta(seconds=20))

    assert (progress.done, progress.failed, progress.needs_verification) == (2, 1, 1)
    assert (progress.remaining, progress.processed, progress.percent) == (2, 4, 4 * 100 // 6)
    # 4 calls ended in 20 s: the 2 left take 10 s more at that pace.
    assert progress.eta_seconds == pytest.approx(2 / (4 / 20))
    assert progress.eta_text == "about 10 s"
    assert progress.waiting_reason == "" and progress.live

    AliasRequest.objects.filter(pk__in=[requests[4].pk, requests[5].pk]).update(status="succeeded")
    final = batch_progress(batch, now=start + timedelta(seconds=30))
    assert (final.finished, final.live, final.percent, final.remaining) == (True, False, 100, 0)


def test_skipped_requests_count_in_the_progress(users, admin_who_asks, held_calls):
    own = submit(admin_who_asks, alias_id="own_desk", logins="cc100")
    theirs = submit(users["supervisor"], alias_id="their_desk")
    batch = services.requests_approve_many(request_ids=[own.pk, theirs.pk], actor=admin_who_asks)
    progress = batch_progress(batch)
    assert (progress.total, progress.skipped, progress.remaining) == (1, 1, 1)


# Pages.


def test_the_portal_form_approves_the_ticked_requests(client_for, users, simulator, admin_who_asks):
    ticked = several(users["supervisor"], 2)
    own = submit(admin_who_asks, alias_id="own_desk", logins="cc100")
    untouched = submit(users["supervisor2"], alias_id="not_ticked")
    admin = client_for("admin")

    listing = admin.get(reverse("aliases:request_list"), {"status": "pending"})
    page = listing.content.decode()
    for alias_request in [*ticked, untouched]:
        label = f"Select request #{alias_request.pk} {alias_request.alias_id}"
        assert re.search(rf'<label[^>]*for="select-{alias_request.pk}"[^>]*>{label}</label>', page)
    assert f'id="select-{own.pk}"' not in page  # four-eyes: nothing to tick
    assert 'id="approve-selected"' in page

    response = admin.post(
        reverse("aliases:requests_approve_selected"),
        {"request": [ticked[0].pk, ticked[1].pk, own.pk], "note": "Ticked."},
        follow=True,
    )

    batch = RequestBatch.objects.get()
    assert response.redirect_chain == [(reverse("aliases:batch_detail", args=[batch.pk]), 302)]
    text = text_of(response)
    assert f"Batch #{batch.pk}: 2 request(s) approved and queued for VICIdial, 1 skipped" in text
    assert "2 of 2 done" in text
    assert bulk_approval.SKIPPED_OWN in text
    assert statuses([*ticked, own, untouched]) == [Status.SUCCEEDED] * 2 + [Status.PENDING] * 2
    assert "data-live-refresh" not in response.content.decode()  # finished: no more refresh


def test_the_portal_form_refuses_an_empty_selection(client_for, users):
    submit(users["supervisor"])
    response = client_for("admin").post(
        reverse("aliases:requests_approve_selected"), {"note": ""}, follow=True
    )
    assert "Select at least one pending request" in text_of(response)
    assert not RequestBatch.objects.exists()


def test_only_admins_get_checkboxes_and_an_auditor_cannot_approve(client_for, users):
    alias_request = submit(users["supervisor"])
    for persona in ("auditor", "supervisor"):
        page = client_for(persona).get(reverse("aliases:request_list")).content.decode()
        assert 'name="request"' not in page and "approve-selected" not in page
    response = client_for("auditor").post(
        reverse("aliases:requests_approve_selected"), {"request": [alias_request.pk]}
    )
    assert response.status_code == 403
    assert statuses([alias_request]) == [Status.PENDING]
    assert not RequestBatch.objects.exists()


def test_the_batch_page_refreshes_while_calls_are_queued_and_admins_pause_it(
    client_for, users, held_calls
):
    requests = several(users["supervisor"], 2)
    batch = services.requests_approve_many(
        request_ids=[r.pk for r in requests], actor=users["admin"]
    )
    url = reverse("aliases:batch_detail", args=[batch.pk])
    admin = client_for("admin")

    page = admin.get(url).content.decode()
    assert '<div id="batch-live" data-live-refresh="1000">' in page
    assert 'aria-label="0 of 2 done"' in page
    assert "js/live.js" in page
    for alias_request in requests:
        assert reverse("aliases:request_detail", args=[alias_request.pk]) in page
    assert "Approved: waiting to call VICIdial" in page
    assert reverse("aliases:batch_pause", args=[batch.pk]) in page
    assert "style=" not in page and "<script>" not in page

    response = admin.post(reverse("aliases:batch_pause", args=[batch.pk]), follow=True)
    text = text_of(response)
    assert f"Batch #{batch.pk} is paused" in text
    assert "Paused by admin" in text
    assert reverse("aliases:batch_resume", args=[batch.pk]) in response.content.decode()
    assert RequestBatch.objects.get(pk=batch.pk).is_paused

    again = admin.post(reverse("aliases:batch_pause", args=[batch.pk]), follow=True)
    assert "already paused" in text_of(again)
    assert admin.get(reverse("aliases:batch_pause", args=[batch.pk])).status_code == 405
    auditor = client_for("auditor")
    assert auditor.post(reverse("aliases:batch_resume", args=[batch.pk])).status_code == 403
    auditor_page = auditor.get(url)
    assert auditor_page.status_code == 200
    assert reverse("aliases:batch_resume", args=[batch.pk]) not in auditor_page.content.decode()


def test_who_sees_which_batch(client_for, users, held_calls):
    mine = make_upload(users["supervisor"])
    theirs = make_upload(users["supervisor2"])
    approval = services.requests_approve_many(
        request_ids=[submit(users["supervisor"]).pk], actor=users["admin"]
    )

    def status(persona, batch):
        return client_for(persona).get(reverse("aliases:batch_detail", args=[batch.pk])).status_code

    assert [status("supervisor", b) for b in (mine, theirs, approval)] == [200, 404, 404]
    assert [status("auditor", b) for b in (mine, theirs, approval)] == [200, 200, 200]
    assert [status("admin", b) for b in (mine, theirs, approval)] == [200, 200, 200]
    assert status("outsider", mine) == 404
    anonymous = client_for("admin").__class__()
    assert anonymous.get(reverse("aliases:batch_detail", args=[mine.pk])).status_code == 302


def test_an_upload_page_offers_approval_and_shows_its_row_errors(client_for, users, simulator):
    upload = make_upload(
        users["supervisor"],
        filename="team.csv",
        row_count=3,
        row_errors=[{"row": 3, "column": "alias_id", "problem": "Use 2 to 20 letters."}],
    )
    requests = several(users["supervisor"], 2)
    AliasRequest.objects.filter(pk__in=[r.pk for r in requests]).update(upload_batch=upload)
    url = reverse("aliases:batch_detail", args=[upload.pk])

    supervisor_page = client_for("supervisor").get(url)
    assert "Use 2 to 20 letters." in text_of(supervisor_page)
    assert "Approve all pending requests of this batch" not in text_of(supervisor_page)
    admin = client_for("admin")
    assert "Approve all pending requests of this batch" in text_of(admin.get(url))

    response = admin.post(
        reverse("aliases:batch_approve", args=[upload.pk]), {"note": "Go."}, follow=True
    )

    approval = RequestBatch.objects.get(kind="approval")
    assert approval.source_batch == upload
    assert response.redirect_chain[-1][0] == reverse("aliases:batch_detail", args=[approval.pk])
    assert f"Upload batch #{upload.pk}" in text_of(response)
    assert statuses(requests) == [Status.SUCCEEDED] * 2
    assert f"Batch #{approval.pk}" in text_of(admin.get(url))  # the upload links its approval


def test_the_admin_action_approves_in_bulk_and_opens_the_batch(client_for, users, simulator):
    requests = several(users["supervisor"], 2)
    changelist = reverse("admin:aliases_aliasrequest_changelist")
    admin = client_for("admin")
    selected = {"action": "approve_selected", ACTION_CHECKBOX_NAME: [r.pk for r in requests]}

    asked = admin.post(changelist, selected)
    assert asked.status_code == 200 and statuses(requests) == [Status.PENDING] * 2
    response = admin.post(changelist, {**selected, "apply": "1", "note": "Admin."}, follow=True)

    batch = RequestBatch.objects.get()
    assert response.redirect_chain == [(reverse("aliases:batch_detail", args=[batch.pk]), 302)]
    assert statuses(requests) == [Status.SUCCEEDED] * 2
    assert batch.note == "Admin."
    batch_admin = admin.get(reverse("admin:aliases_requestbatch_change", args=[batch.pk]))
    assert batch_admin.status_code == 200
    assert reverse("aliases:batch_detail", args=[batch.pk]) in batch_admin.content.decode()
    linked = admin.get(changelist, {"approval_batch__id__exact": batch.pk})
    assert {r.pk for r in linked.context["cl"].result_list} == {r.pk for r in requests}


@pytest.mark.postgres_only
def test_two_admins_approving_the_same_selection_queue_each_request_once(
    transactional_db, simulator
):
    from aliases.roles import Role

    from .base import make_user, race

    admins = [make_user(f"boss{n}", [Role.ADMIN]) for n in range(2)]
    requester = make_user("asker", [Role.SUPERVISOR])
    requests = several(requester, 6)
    ids = [r.pk for r in requests]

    batches = race(2, lambda n: services.requests_approve_many(request_ids=ids, actor=admins[n]))

    assert all(isinstance(batch, RequestBatch) for batch in batches), batches
    assert statuses(requests) == [Status.SUCCEEDED] * 6
    assert sorted(add_calls(simulator)) == sorted(r.alias_id for r in requests)
    queued = sorted(pk for batch in batches for pk in batch.requests().values_list("pk", flat=True))
    skipped = sorted(entry["request"] for batch in batches for entry in batch.skipped)
    assert queued == ids and skipped == ids
