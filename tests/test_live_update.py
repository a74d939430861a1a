"""The request page follows the VICIdial call live, in real Chromium (static/js/live.js).

Here the approval only enqueues (the database task queue, as in production) and the worker's
side of the call runs in a thread of the test process, so the page shows the request queued,
then calling, then its outcome, all without a reload: a marker set on the window after the
approval's redirect is still there when the outcome shows.
"""

import re
import threading

import pytest
from django.db import connections

from aliases.audit import AuditContext
from aliases.services import queue

from .base import submit
from .test_browser import ARTIFACTS, browser, log_in  # noqa: F401 - the module's Chromium

pytestmark = pytest.mark.browser

BEING_CALLED = (
    "Approved. VICIdial is being called; this page shows the outcome when it is recorded."
)
WAITING = "Approved: waiting for the task worker to call VICIdial"
CALLING = "Calling VICIdial…"
STOPPED = "The live view stopped updating. Reload the page to see the latest state."
# Longer than the longest wait between two polls (2 s): a script that
# still polled would have asked for the page in this time. The page's clock runs it at once
# (`stays_quiet`), so no test sleeps through it.
QUIET_MS = 2300


class Worker(threading.Thread):
    """The task worker's side of one queued call, in a thread of the test process."""

    def __init__(self, request_id: int):
        super().__init__(daemon=True)
        self.request_id = request_id
        self.outcome = ""
        self.error: BaseException | None = None

    def run(self):
        try:
            self.outcome = queue.alias_request_call(
                self.request_id, AuditContext.system("task worker")
            )
        except BaseException as error:  # reported by finish(), in the test's thread
            self.error = error
        finally:
            connections.close_all()

    def finish(self) -> str:
        self.join(timeout=20)
        assert not self.is_alive(), "the call did not end"
        if self.error is not None:
            raise self.error
        return self.outcome


@pytest.fixture
def task_queue(settings):
    """Approvals only enqueue: django-tasks resets its backends when TASKS changes."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


@pytest.fixture
def call_gate(monkeypatch):
    """Holds a call between queued -> calling and the request to VICIdial until set, so the
    page can be seen in the calling state without guessing how long a call takes."""
    gate = threading.Event()
    real = queue.carry_out_in_vicidial

    def held(**kwargs):
        assert gate.wait(timeout=15), "the test never let the call go"
        return real(**kwargs)

    monkeypatch.setattr(queue, "carry_out_in_vicidial", held)
    yield gate
    gate.set()


@pytest.fixture
def page(browser, live_server):  # noqa: F811 - the imported fixture
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    # Time flows as usual until a test moves the page's timers on (stays_quiet).
    page.clock.install()
    # The init script runs outside the page's CSP; it records any violation the page causes,
    # and counts the page's fetches as they are sent.
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (event) => window.__csp.push(event.violatedDirective + ' ' + event.blockedURI));"
        "window.__fetches = 0;"
        "const realFetch = window.fetch;"
        "window.fetch = function () { window.__fetches += 1;"
        " return realFetch.apply(this, arguments); };"
    )
    page.console_problems = problems = []
    page.on(
        "console",
        lambda message: (
            (message.type in ("error", "warning") or "Content Security Policy" in message.text)
            and problems.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    if not page.is_closed() and page.url.startswith(live_server.url):
        assert page.evaluate("window.__csp") == []
    assert problems == []
    context.close()


def page_fetches(page, url: str) -> list:
    """Every request for `url` the page sends from now on (the live script's polls)."""
    seen = []
    page.on("request", lambda request: request.url == url and seen.append(request))
    return seen


def stays_quiet(page) -> bool:
    """Whether the page sends no request in QUIET_MS: its clock runs every timer due in that
    time at once, and a poll's fetch is counted the moment the script calls it."""
    asked = page.evaluate("window.__fetches")
    page.clock.run_for(QUIET_MS)
    return page.evaluate("window.__fetches") == asked


def main_frame_navigations(page) -> list[str]:
    seen = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and seen.append(frame.url))
    return seen


def approve_from_the_page(page, alias_request) -> None:
    page.goto(f"/requests/{alias_request.pk}/")
    page.get_by_label("Note").fill("Checked with the team lead.")
    page.get_by_role("button", name="Approve and create in VICIdial").click()
    page.get_by_text(BEING_CALLED).wait_for()
    # Set once the redirect after the POST has landed: a reload or navigation would drop it.
    page.evaluate("window.__marker = 1")


def status_of(page) -> str:
    return page.inner_text("[data-testid=status]")


def test_the_outcome_appears_without_a_reload(
    transactional_db, users, simulator, task_queue, call_gate, page
):
    alias_request = submit(users["supervisor"], alias_id="live_desk")
    log_in(page, "admin")
    approve_from_the_page(page, alias_request)
    navigations = main_frame_navigations(page)
    polls = page_fetches(page, page.url)

    live = page.locator("[data-testid=live-status]")
    assert WAITING in live.inner_text()
    assert live.get_by_role("img", name="In progress").count() == 1
    assert "updates itself" in live.inner_text()
    assert simulator.state.requests_received == []  # only enqueued

    worker = Worker(alias_request.pk)
    worker.start()
    page.get_by_text(CALLING).wait_for()
    assert "Calling VICIdial" in status_of(page)
    call_gate.set()
    page.locator("[data-testid=status]", has_text="Created in VICIdial").wait_for()
    assert worker.finish() == "called VICIdial: succeeded"

    raw = page.inner_text("[data-testid=raw-response]")
    assert raw.startswith("SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED")
    assert page.locator("[data-testid=live-status]").count() == 0
    assert page.evaluate("window.__marker") == 1
    assert navigations == []
    assert polls and all(poll.headers.get("x-requested-with") for poll in polls)
    # Read out to screen readers, while focus stays where it was.
    announcer = page.locator("[data-testid=live-announcer]")
    announcer.filter(has_text="Created in VICIdial").wait_for(state="attached")
    assert announcer.get_attribute("aria-live") == "polite"
    assert page.evaluate("document.activeElement === document.body")

    # Final: the new copy has no data-live-refresh, so the script asks for nothing more.
    assert page.locator("#request-live").get_attribute("data-live-refresh") is None
    asked = len(polls)
    assert stays_quiet(page)
    assert len(polls) == asked


def test_a_failed_outcome_appears_live_after_a_failed_poll(
    transactional_db, users, simulator, task_queue, page
):
    simulator.state.add_alias("live_fail", "Existing", "1001")
    alias_request = submit(users["supervisor"], alias_id="live_fail")
    log_in(page, "admin")
    approve_from_the_page(page, alias_request)
    # The first poll meets a dropped connection; the next ones get through.
    dropped = []

    def drop_once(route):
        if dropped:
            route.continue_()
        else:
            dropped.append(route.request.url)
            route.abort()

    page.route(page.url, drop_once)
    Worker(alias_request.pk).start()

    page.locator("[data-testid=status]", has_text="Failed in VICIdial").wait_for()
    assert "PHONE ALIAS ALREADY EXISTS" in page.inner_text("[data-testid=outcome]")
    assert "ERROR: add_phone_alias" in page.inner_text("[data-testid=raw-response]")
    assert dropped, "the first poll was not dropped"
    assert page.evaluate("window.__marker") == 1
    assert page.locator("[data-live-stopped]").count() == 0
    # The browser reports the dropped connection in the console: that one was the test's.
    page.unroute(page.url)
    page.console_problems[:] = [
        text for text in page.console_problems if "net::ERR_FAILED" not in text
    ]


def test_no_swap_while_a_control_inside_has_focus_nor_polls_while_hidden(
    transactional_db, users, simulator, task_queue, page
):
    alias_request = submit(users["supervisor"], alias_id="live_focus")
    log_in(page, "admin")
    approve_from_the_page(page, alias_request)
    url = page.url
    polls = page_fetches(page, url)
    # The waiting request at phone width: nothing runs off the side.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "request-queued-390.png"), full_page=True)

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState',"
        " {configurable: true, get: () => window.__visibility || 'visible'});"
        "window.__visibility = 'hidden';"
        "document.dispatchEvent(new Event('visibilitychange'));"
    )
    asked = len(polls)
    assert stays_quiet(page), "the page was polled while the tab was hidden"
    assert len(polls) == asked
    with page.expect_request(url):
        page.evaluate(
            "window.__visibility = 'visible'; document.dispatchEvent(new Event('visibilitychange'))"
        )

    # A person typing in a field of the live part keeps the field: the swap waits.
    page.evaluate(
        "const field = document.createElement('input');"
        "field.id = 'typing'; field.setAttribute('aria-label', 'Typing');"
        "document.getElementById('request-live').append(field); field.focus();"
    )
    page.keyboard.type("half a sentence")
    worker = Worker(alias_request.pk)
    worker.start()
    assert worker.finish() == "called VICIdial: succeeded"
    for _ in range(2):  # two polls that saw the outcome, and left the part alone
        with page.expect_response(url):
            pass
    assert WAITING in page.inner_text("[data-testid=live-status]")
    assert page.input_value("#typing") == "half a sentence"
    assert page.evaluate("document.activeElement.id") == "typing"

    page.evaluate("document.activeElement.blur()")
    page.locator("[data-testid=status]", has_text="Created in VICIdial").wait_for()
    assert page.evaluate("window.__marker") == 1


def test_the_live_view_stops_with_a_message_when_the_session_ends(
    transactional_db, users, simulator, task_queue, page
):
    alias_request = submit(users["supervisor"], alias_id="live_logout")
    log_in(page, "admin")
    approve_from_the_page(page, alias_request)
    polls = page_fetches(page, page.url)
    # Logged out elsewhere: the next poll is sent to the login page, which has no live part.
    page.context.clear_cookies()

    stopped = page.locator("#request-live [data-live-stopped]")
    stopped.wait_for()
    assert stopped.inner_text() == STOPPED
    assert stopped.get_attribute("role") == "alert"
    assert re.search(r"/requests/\d+/$", page.url)
    asked = len(polls)
    assert stays_quiet(page)
    assert len(polls) == asked
