"""Disable an alias and enable it again in real Chromium, as two admins would: one asks on the
alias's page, the other approves on the request's page (four-eyes)."""

import re

import pytest

from . import test_browser
from .inventory_helpers import created_alias
from .test_browser import ARTIFACTS, log_in, log_out

pytestmark = pytest.mark.browser
# The same fixtures as the other browser tests: one Chromium per module, a context per test.
browser = test_browser.browser
page = test_browser.page

APPROVE = re.compile(r"^Approve")


def ask_from_the_alias_page(tab, alias_id: str, action: str, why: str) -> int:
    tab.get_by_role("link", name="Aliases", exact=True).click()
    tab.get_by_label("Alias ID contains").fill(alias_id)
    tab.get_by_role("button", name="Search").click()
    tab.get_by_role("link", name=alias_id, exact=True).click()
    tab.get_by_role("link", name=action).click()
    tab.get_by_label("Justification").fill(why)
    tab.get_by_role("button", name=f"{action} it").click()
    tab.wait_for_url(re.compile(r"/requests/\d+/$"))
    return int(tab.url.rstrip("/").rsplit("/", 1)[1])


def approve_from_the_queue(tab, request_id: int) -> None:
    tab.locator("[data-testid=pending-queue]").locator(f"a[href='/requests/{request_id}/']").click()
    tab.get_by_label("Note").fill("Confirmed with the team.")
    tab.get_by_role("button", name=APPROVE).click()


def inventory_state(tab, alias_id: str) -> str:
    tab.get_by_role("link", name="Aliases", exact=True).click()
    tab.get_by_label("Alias ID contains").fill(alias_id)
    tab.get_by_role("button", name="Search").click()
    tab.wait_for_url(re.compile(r"alias_id="))
    return tab.locator("[data-testid=inventory] tbody tr").inner_text()


def test_disable_and_enable_from_the_alias_page(transactional_db, users, simulator, page):
    created_alias(users, alias_id="night_line", logins="1003,1004", name="Night line")

    log_in(page, "admin")
    disable_id = ask_from_the_alias_page(page, "night_line", "Ask to disable", "Night shift ends.")
    assert "Pending approval" in page.inner_text("[data-testid=status]")
    log_out(page)

    log_in(page, "admin2")
    approve_from_the_queue(page, disable_id)
    page.wait_for_selector("text=Approved. Result: Disabled: removed from VICIdial.")
    assert simulator.state.alias("night_line") is None
    row = inventory_state(page, "night_line")
    assert "Disabled (removed from VICIdial)" in row and "1003, 1004" in row
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inventory.png"), full_page=True)

    enable_id = ask_from_the_alias_page(page, "night_line", "Ask to enable", "Night shift is back.")
    log_out(page)

    log_in(page, "admin")
    approve_from_the_queue(page, enable_id)
    page.wait_for_selector("text=Approved. Result: Enabled: created in VICIdial again.")
    assert simulator.state.alias("night_line").logins_list == "1003,1004"
    assert "Active in VICIdial" in inventory_state(page, "night_line")
    page.get_by_role("link", name="night_line", exact=True).click()
    history = page.inner_text("main table")
    assert "Enable" in history and "Disable" in history and "Add" in history
    # A phone's width: the page's tables scroll inside their own container.
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "alias-detail-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The menu folds behind one button, which a keyboard reaches and opens.
    aliases_link = page.get_by_role("link", name="Aliases", exact=True)
    assert not aliases_link.is_visible()
    page.get_by_role("button", name="Show the menu").focus()
    page.keyboard.press("Enter")
    aliases_link.wait_for(state="visible")
