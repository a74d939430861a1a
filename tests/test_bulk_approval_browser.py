"""Bulk approval in real Chromium: an admin ticks requests on the list by their labels, approves
them together, and the batch's page follows the calls live, at phone width."""

import re

import pytest

from aliases.services import bulk_approval, queue

from . import test_browser
from .base import submit
from .test_browser import ARTIFACTS, log_in

pytestmark = pytest.mark.browser
browser = test_browser.browser
page = test_browser.page


def test_ticked_requests_are_approved_together_and_followed_live(
    transactional_db, users, simulator, page, monkeypatch
):
    # The worker's calls are made by the test, so the page is seen while they are queued.
    held: list[int] = []
    monkeypatch.setattr(bulk_approval, "call_enqueue", lambda pk, context=None: held.append(pk))
    first = submit(users["supervisor"], alias_id="sales_desk")
    second = submit(users["supervisor2"], alias_id="support_desk", logins="1002")
    left = submit(users["supervisor"], alias_id="not_ticked", logins="cc100")

    log_in(page, "admin")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/requests/")
    page.get_by_role("link", name="Show only requests pending approval").click()
    page.get_by_label(f"Select request #{first.pk} sales_desk").check()
    page.get_by_label(f"Select request #{second.pk} support_desk").check()
    page.locator("[data-testid=approve-selected]").get_by_label("Note").fill("Team move.")
    page.get_by_role("button", name="Approve selected").click()

    page.wait_for_url(re.compile(r"/batches/\d+/$"))
    assert "2 request(s) approved and queued for VICIdial" in page.inner_text("main")
    bar = page.get_by_role("progressbar", name="0 of 2 done")
    assert bar.get_attribute("aria-valuemax") == "2"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    pause = page.get_by_role("button", name="Pause the remaining calls")
    assert pause.count() == 1
    assert held == [first.pk, second.pk]
    assert left.pk not in held

    for request_id in held:
        queue.alias_request_call(request_id)

    page.get_by_role("progressbar", name="2 of 2 done").wait_for()
    assert "Finished." in page.inner_text("[data-testid=progress-summary]")
    assert page.locator("#batch-live[data-live-refresh]").count() == 0
    assert pause.count() == 0  # nothing left to pause
    assert page.inner_text("[data-testid=batch-requests]").count("Created in VICIdial") == 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "batch-detail-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
