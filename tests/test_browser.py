"""Every form the portal shows, filled in and submitted in real Chromium, as a person would.

The other tests post fields directly, so they cannot see a form a browser cannot submit (the
settle choice once rendered as bare <option> elements). Here nothing is posted by hand: the
tests fill what is on the page and click its buttons. One browser serves the whole module;
each test gets a fresh context (its own cookies).
"""

import os
import re
from pathlib import Path

import pytest

from aliases import services
from aliases.simulator import Fault

from .base import PASSWORD, submit

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium package is required for the browser test (.ci/run installs it)"
        )
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-extensions",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.console_problems = []
    page.on(
        "console",
        lambda message: (
            message.type in ("error", "warning") and page.console_problems.append(message.text)
        ),
    )
    yield page
    # The Content-Security-Policy forbids inline script and style: nothing may trip it.
    assert page.console_problems == []
    context.close()


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("[data-testid=whoami]")


def log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_selector("input[name=username]")


def status_of(page) -> str:
    return page.inner_text("[data-testid=status]")


def test_request_approve_and_audit_in_chromium(transactional_db, users, simulator, page):
    log_in(page, "supervisor")
    page.get_by_role("link", name="New request").first.click()
    page.get_by_label("Alias ID").fill("Support Desk!")
    page.get_by_label("Alias name").fill("Support desk")
    page.get_by_label("Phone logins").fill("1001, 1002")
    page.get_by_label("Justification").fill("Second line support shares one number.")
    page.get_by_role("button", name="Submit request").click()
    assert "would silently delete" in page.inner_text("main form")

    page.get_by_label("Alias ID").fill("support_desk")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    request_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert "Pending approval" in status_of(page)
    log_out(page)

    log_in(page, "admin")
    assert "support_desk" in page.inner_text("[data-testid=pending-queue]")
    page.click(f"a[href='/requests/{request_id}/']")
    page.get_by_label("Note").fill("Checked with the team lead.")
    page.get_by_role("button", name="Approve and create in VICIdial").click()
    page.wait_for_selector("text=Approved. Result: Created in VICIdial.")
    raw = page.inner_text("[data-testid=raw-response]")
    assert raw.startswith("SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED")
    log_out(page)

    log_in(page, "auditor")
    page.goto(f"/requests/{request_id}/")
    assert "SUCCESS: add_phone_alias" in page.inner_text("[data-testid=raw-response]")
    assert page.locator("[data-testid=decision-form]").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "request-detail-auditor.png"), full_page=True)

    page.click("a[href='/extensions/1001/']")
    assert "support_desk" in page.inner_text("main")
    assert "VICIdial call made" in page.inner_text("[data-testid=events]")
    page.screenshot(path=str(ARTIFACTS / "extension-history.png"), full_page=True)
    page.goto("/admin/aliases/auditevent/?q=1001")
    assert "Request created" in page.inner_text("#result_list")
    page.goto("/admin/aliases/aliasrequest/")
    assert "support_desk" in page.inner_text("#result_list")

    # No ORM query here: the live server's answers are what the test checks.
    assert simulator.state.alias("SUPPORT_DESK") is not None


def test_reject_cancel_and_the_search_forms(transactional_db, users, simulator, page):
    rejected = submit(users["supervisor"], alias_id="reject_me", logins="2001")
    cancelled = submit(users["supervisor"], alias_id="cancel_me", logins="2002")
    submit(users["supervisor2"], alias_id="other_one", logins="1003")
    in_admin = submit(users["supervisor2"], alias_id="admin_rejects", logins="1004")

    log_in(page, "supervisor")
    page.goto(f"/requests/{cancelled.pk}/")
    page.get_by_role("button", name="Cancel this request").click()
    page.wait_for_selector(f"text=Request #{cancelled.pk} is cancelled.")
    assert "Cancelled" in status_of(page)
    log_out(page)

    log_in(page, "admin")
    page.goto(f"/requests/{rejected.pk}/")
    # A rejection needs a reason: the empty note is refused on the page, then given.
    page.get_by_role("button", name="Reject").click()
    page.wait_for_selector("text=Give the requester a reason for the rejection.")
    page.get_by_label("Note").fill("The sales queue already covers this.")
    page.get_by_role("button", name="Reject").click()
    page.wait_for_selector("text=Rejected.")
    assert "Rejected" in status_of(page)

    page.get_by_role("link", name="Requests", exact=True).click()
    page.get_by_label("Exact phone login").fill("1003")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"login=1003"))
    listed = page.inner_text("main table")
    assert "other_one" in listed and "reject_me" not in listed
    page.get_by_label("Exact phone login").fill("")
    page.get_by_label("Status").select_option(label="Cancelled")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"status=cancelled"))
    listed = page.inner_text("main table")
    assert "cancel_me" in listed and "other_one" not in listed

    # The extension lookup on the start page, then the audit trail's filters.
    page.get_by_role("link", name="Phone alias portal").click()
    page.get_by_label("Extension history").fill("2001")
    page.get_by_role("button", name="Open").click()
    page.wait_for_url(re.compile(r"/extensions/2001/$"))
    assert "Request rejected" in page.inner_text("[data-testid=events]")

    page.get_by_role("link", name="Audit trail").click()
    page.get_by_label("Exact extension").fill("2002")
    page.get_by_label("Event type").select_option(label="Request cancelled")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"extension=2002"))
    rows = page.locator("[data-testid=events] tbody tr")
    assert rows.count() == 1
    assert "cancel_me" in rows.first.inner_text()
    # A filter that is not valid shows its error and no rows, never the whole trail.
    page.get_by_label("Exact extension").fill("20 02")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector("[data-testid=filter-errors]")
    assert page.inner_text("[data-testid=events] tbody") == "No events."

    # The Django admin's action asks for the note on a page of its own (decision_note.html).
    page.get_by_role("link", name="Django admin").click()
    page.get_by_role("link", name="Alias requests").first.click()
    page.locator(f"input[name=_selected_action][value='{in_admin.pk}']").check()
    page.get_by_label("Action:").select_option(label="Reject")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Note").fill("Not needed after all.")
    page.get_by_role("button", name="Reject requests").click()
    page.wait_for_selector(f"text=#{in_admin.pk} admin_rejects: Rejected")
    page.goto("/")
    log_out(page)


def test_retry_and_settle_from_the_page(transactional_db, users, simulator, page):
    def unknown_outcome(alias_id: str, *, created: bool):
        alias_request = submit(users["supervisor"], alias_id=alias_id, logins="1004")
        # The connection drops after the request went out: nobody knows what VICIdial did.
        simulator.state.inject(Fault(reset=True, process=created))
        return services.alias_request_approve(request_id=alias_request.pk, actor=users["admin2"])

    retried = unknown_outcome("retry_me", created=False)
    found = unknown_outcome("found_me", created=True)
    missing = unknown_outcome("missing_me", created=False)
    assert {r.status for r in (retried, found, missing)} == {"needs_verification"}

    log_in(page, "admin")
    page.goto(f"/requests/{retried.pk}/")
    page.get_by_role("button", name="Retry add_phone_alias").click()
    page.wait_for_selector("text=Retried. Result: Created in VICIdial.")
    assert "Created in VICIdial" in status_of(page)

    page.goto(f"/requests/{found.pk}/")
    settle = page.locator("[data-testid=settle-form]")
    settle.get_by_label("What did you check in VICIdial?").fill("Alias list in VICIdial.")
    # Radio buttons the browser requires: without an answer it would not even submit.
    answer = settle.get_by_label("Yes: VICIdial holds it with these values (done)")
    assert answer.evaluate("radio => radio.validity.valueMissing") is True
    answer.check()
    settle.get_by_role("button", name="Record the outcome").click()
    page.wait_for_selector("text=Recorded: Created in VICIdial.")
    assert "Created in VICIdial" in status_of(page)
    assert "Verified by admin: Alias list in VICIdial." in page.inner_text("[data-testid=outcome]")

    page.goto(f"/requests/{missing.pk}/")
    settle = page.locator("[data-testid=settle-form]")
    settle.get_by_label("No: VICIdial does not hold it like this (not done)").check()
    settle.get_by_label("What did you check in VICIdial?").fill("Searched; not there.")
    settle.get_by_role("button", name="Record the outcome").click()
    page.wait_for_selector("text=Recorded: Failed in VICIdial.")
    assert "Failed in VICIdial" in status_of(page)
    log_out(page)
    assert simulator.state.alias("retry_me") is not None


def test_stopped_calls_are_resumed_from_the_banner(
    transactional_db, users, simulator, settings, page
):
    alias_request = submit(users["supervisor"], alias_id="locked_out")
    real_password = settings.VICIDIAL_API_PASS
    settings.VICIDIAL_API_PASS = "not-the-password"

    log_in(page, "admin")
    page.goto(f"/requests/{alias_request.pk}/")
    page.get_by_role("button", name="Approve and create in VICIdial").click()
    banner = page.locator("[data-testid=circuit-banner]")
    banner.wait_for()
    assert "Calls to VICIdial server default are stopped" in banner.inner_text()

    settings.VICIDIAL_API_PASS = real_password
    banner.get_by_role("button", name="Resume calls to default").click()
    page.wait_for_selector(
        "text=Calls to VICIdial server default resumed. Approvals call it again."
    )
    assert page.locator("[data-testid=circuit-banner]").count() == 0
    log_out(page)
