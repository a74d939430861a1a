"""The whole of a floor move, as people do it: a supervisor uploads a 200-row CSV, an admin
approves the batch in one step, two real task workers make the calls, and the batch page
ends at 200 of 200 done, with VICIdial called exactly once per row."""

import csv
import io
import re

import pytest
from django.urls import reverse

from aliases.models import AliasRequest, RequestBatch, VicidialCall
from aliases.simulator import DEMO_PHONES

from .workers import wait_for

pytestmark = pytest.mark.postgres_only

ROWS = 200


def floor_move_csv() -> bytes:
    logins = [phone.login for phone in DEMO_PHONES]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["kind", "alias_id", "alias_name", "phone_logins", "justification"])
    for number in range(ROWS):
        login = logins[number % len(logins)]
        writer.writerow(["add", f"floor{number}", f"Floor desk {number}", login, "Floor move"])
    return out.getvalue().encode()


def test_a_200_row_upload_is_approved_in_one_step_and_watched_to_the_end(
    users, client_for, simulator, settings, workers
):
    settings.VICIDIAL_MAX_IN_FLIGHT = 2
    settings.VICIDIAL_CALLS_PER_SECOND = 0
    supervisor, admin = client_for("supervisor"), client_for("admin")
    upload = io.BytesIO(floor_move_csv())
    upload.name = "floor-move.csv"
    uploaded = supervisor.post(reverse("aliases:request_upload"), {"file": upload})
    batch = RequestBatch.objects.get(kind=RequestBatch.Kind.UPLOAD)
    assert uploaded.headers["Location"] == reverse("aliases:batch_detail", args=[batch.pk])
    assert batch.requests().filter(status=AliasRequest.Status.PENDING).count() == ROWS

    approved = admin.post(reverse("aliases:batch_approve", args=[batch.pk]), {"note": "Go"})
    approval = RequestBatch.objects.get(kind=RequestBatch.Kind.APPROVAL)
    assert approved.headers["Location"] == reverse("aliases:batch_detail", args=[approval.pk])
    # The admin's page while nothing has been called: live, with nothing done yet.
    page = admin.get(approved.headers["Location"]).content.decode()
    assert 'data-live-refresh="' in page and f"0 of {ROWS} done" in page

    workers.start(2)
    wait_for(
        lambda: not approval.requests().exclude(status=AliasRequest.Status.SUCCEEDED).exists(),
        timeout=180,
        what=f"{ROWS} requests done",
    )
    page = admin.get(approved.headers["Location"]).content.decode()
    assert f"{ROWS} of {ROWS} done" in page
    assert "data-live-refresh" not in page  # finished: the page stops following
    sent = [r for r in simulator.state.requests_received if r.params.get("function")]
    assert len(sent) == ROWS
    assert sorted(r.params["alias_id"] for r in sent) == sorted(f"floor{n}" for n in range(ROWS))
    assert VicidialCall.objects.count() == ROWS
    # Each request keeps its own raw answer, on its own page.
    one = approval.requests().order_by("pk").first()
    detail = admin.get(reverse("aliases:request_detail", args=[one.pk])).content.decode()
    assert re.search(rf"PHONE ALIAS HAS BEEN ADDED - 6666\|{one.alias_id}\|", detail)
