"""The whole journey in real Chromium: supervisor asks, admin approves, auditor reads."""

import re
from pathlib import Path

import pytest

from .base import PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def browser_page(monkeypatch):
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium package is required for the browser test (.ci/run installs it)"
        )
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.set_default_timeout(10_000)
        page.console_problems = []
        page.on(
            "console",
            lambda message: (
                message.type in ("error", "warning") and page.console_problems.append(message.text)
            ),
        )
        yield page
        browser.close()


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=whoami]")


def log_out(page) -> None:
    page.click("text=Log out")
    page.wait_for_selector("input[name=username]")


def test_request_approve_and_audit_in_chromium(
    transactional_db, live_server, users, simulator, browser_page
):
    page = browser_page
    base_url = live_server.url

    log_in(page, base_url, "supervisor")
    page.click("text=New request")
    page.fill("input[name=alias_id]", "Support Desk!")
    page.fill("input[name=alias_name]", "Support desk")
    page.fill("input[name=phone_logins]", "1001, 1002")
    page.fill("textarea[name=justification]", "Second line support shares one number.")
    page.click("input[type=submit]")
    assert "would silently delete" in page.inner_text("main form")

    page.fill("input[name=alias_id]", "support_desk")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    request_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert "Pending approval" in page.inner_text("[data-testid=status]")
    log_out(page)

    log_in(page, base_url, "admin")
    assert "support_desk" in page.inner_text("[data-testid=pending-queue]")
    page.click(f"a[href='/requests/{request_id}/']")
    page.fill("textarea[name=note]", "Checked with the team lead.")
    page.click("text=Approve and create in VICIdial")
    page.wait_for_selector("text=Created in VICIdial")
    raw = page.inner_text("[data-testid=raw-response]")
    assert raw.startswith("SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED")
    log_out(page)

    log_in(page, base_url, "auditor")
    page.goto(f"{base_url}/requests/{request_id}/")
    assert "SUCCESS: add_phone_alias" in page.inner_text("[data-testid=raw-response]")
    assert page.locator("[data-testid=decision-form]").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "request-detail-auditor.png"), full_page=True)

    page.click("a[href='/extensions/1001/']")
    assert "support_desk" in page.inner_text("main")
    assert "VICIdial call made" in page.inner_text("[data-testid=events]")
    page.screenshot(path=str(ARTIFACTS / "extension-history.png"), full_page=True)
    page.goto(f"{base_url}/admin/aliases/auditevent/?q=1001")
    assert "Request created" in page.inner_text("#result_list")
    page.goto(f"{base_url}/admin/aliases/aliasrequest/")
    assert "support_desk" in page.inner_text("#result_list")
    # The Content-Security-Policy forbids inline script and style: nothing may trip it.
    assert page.console_problems == []

    # No ORM query here: under Playwright's greenlets it would open a connection nobody closes.
    assert simulator.state.alias("SUPPORT_DESK") is not None
