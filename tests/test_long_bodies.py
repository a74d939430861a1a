"""VICIdial's raw answers on every page that shows them: long ones folded in a <details>
with the result line outside it, cut ones saying so, short ones whole as they are."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from aliases import services
from aliases.models import AuditEvent, VicidialCall
from aliases.simulator import Fault, php_warnings
from aliases.templatetags.portal import byte_size, raw_response_of

from .base import submit

SUCCESS_LINE = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|sales_desk|"
WARNING = "Undefined variable $x"


class Folds(HTMLParser):
    """The text of a page outside any <details>, and each <details>' summary and content."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.outside: list[str] = []
        self.folds: list[dict[str, str]] = []
        self._depth = 0
        self._in_summary = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self._depth += 1
            self.folds.append({"summary": "", "content": ""})
        elif tag == "summary" and self._depth:
            self._in_summary = True

    def handle_endtag(self, tag):
        if tag == "details":
            self._depth -= 1
        elif tag == "summary":
            self._in_summary = False

    def handle_data(self, data):
        if not self._depth:
            self.outside.append(data)
        else:
            self.folds[-1]["summary" if self._in_summary else "content"] += data

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.outside).split())


def approve(users) -> VicidialCall:
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    return VicidialCall.objects.get(request=alias_request)


@pytest.fixture
def long_answer(users, simulator):
    """A real answer after 200 PHP warnings: about 28 KB and 400 lines, not cut."""
    simulator.state.inject(Fault(prefix=php_warnings(200)))
    call = approve(users)
    assert not call.response_truncated
    return call


@pytest.fixture
def cut_answer(users, simulator, settings):
    """80 KB of warnings around the result line, with a 16 KB cap."""
    settings.VICIDIAL_MAX_BODY_BYTES = 16 * 1024
    simulator.state.inject(Fault(padding=40_000, padding_after=40_000))
    call = approve(users)
    assert call.response_truncated and call.response_bytes > 80_000
    return call


def _call_event(call: VicidialCall) -> AuditEvent:
    return AuditEvent.objects.get(call=call, event_type=AuditEvent.Type.VICIDIAL_CALL)


def _event_admin(call: VicidialCall) -> str:
    return reverse("admin:aliases_auditevent_change", args=[_call_event(call).pk])


# Every page that shows a raw answer: (persona, URL of the page for that call).
PAGES = {
    "request page": (
        "supervisor",
        lambda call: reverse("aliases:request_detail", args=[call.request_id]),
    ),
    "audit trail": ("auditor", lambda call: reverse("aliases:audit_list")),
    "extension history": (
        "auditor",
        lambda call: reverse("aliases:extension_history", args=["1001"]),
    ),
    "call admin": (
        "admin",
        lambda call: reverse("admin:aliases_vicidialcall_change", args=[call.pk]),
    ),
    "event admin": ("auditor", _event_admin),
}


def page_of(client_for, page: str, call: VicidialCall) -> Folds:
    persona, url = PAGES[page]
    response = client_for(persona).get(url(call))
    assert response.status_code == 200
    return Folds(response.content.decode())


@pytest.mark.parametrize("page", list(PAGES))
def test_a_long_answer_is_folded_with_its_result_line_outside(client_for, long_answer, page):
    shown = page_of(client_for, page, long_answer)
    [fold] = shown.folds
    lines = long_answer.response_body.count("\n")
    size = round(len(long_answer.response_body.encode()) / 1024)
    assert lines > 400
    assert fold["summary"] == f"VICIdial's answer: {lines:,} lines, {size} KB — show"
    assert WARNING in fold["content"] and SUCCESS_LINE in fold["content"]
    assert f"Result line: {SUCCESS_LINE}" in shown.visible
    assert WARNING not in shown.visible
    assert "VICIdial sent" not in shown.visible  # folded, but not cut


@pytest.mark.parametrize("page", list(PAGES))
def test_a_cut_answer_says_it_was_cut_and_what_was_kept(client_for, cut_answer, page):
    shown = page_of(client_for, page, cut_answer)
    sent = byte_size(cut_answer.response_bytes)
    assert re.fullmatch(r"\d\d KB", sent)
    assert (
        f"VICIdial sent {sent}; the portal kept the start, the result line and the end."
        in shown.visible
    )
    assert f"Result line: {SUCCESS_LINE}" in shown.visible
    [fold] = shown.folds
    assert "bytes cut before the result line" in fold["content"]


@pytest.mark.parametrize("page", list(PAGES))
def test_a_short_answer_is_shown_whole_and_not_folded(client_for, users, simulator, page):
    call = approve(users)
    shown = page_of(client_for, page, call)
    assert shown.folds == []
    assert SUCCESS_LINE in shown.visible
    assert "Result line:" not in shown.visible
    assert "VICIdial sent" not in shown.visible


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1,023 bytes"),
        (90 * 1024, "90 KB"),
        (1536 * 1024, "1.5 MB"),
        (100 * 1024 * 1024, "100 MB"),
        (3 * 1024**3, "3 GB"),
    ],
)
def test_sizes_read_as_people_say_them(count, shown):
    assert byte_size(count) == shown


@pytest.mark.parametrize(
    ("body", "folded"),
    [
        ("x\n" * 20, False),
        ("x\n" * 21, True),
        ("x" * 2000, False),
        ("x" * 2001, True),
    ],
)
def test_folding_starts_past_twenty_lines_or_two_thousand_characters(body, folded):
    assert raw_response_of(body=body, received_bytes=None, truncated=False).collapsed is folded


def test_a_cut_answer_without_a_result_line_does_not_claim_one():
    body = "<br />\n" * 30 + "[... 9,000 bytes cut ...]\n" + "<br />\n" * 30
    response = raw_response_of(body=body, received_bytes=100 * 1024 * 1024, truncated=True)
    assert response.cut_note == "VICIdial sent 100 MB; the portal kept the start and the end."
    assert response.result_line == ""
