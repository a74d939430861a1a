from dataclasses import dataclass

from django import template
from django.urls import NoReverseMatch, reverse

from .. import outcomes
from ..vicidial import servers
from ..vicidial.protocol import parse_response

register = template.Library()

# A real answer is one line; PHP warnings make it thousands. Past these it is shown folded,
# with the result line (the part a reader needs) outside the fold.
LONG_BODY_LINES = 20
LONG_BODY_CHARS = 2_000


@register.simple_tag
def extension_history_url(login: str) -> str:
    """The history page of `login`, or "" for text that cannot be one (old events keep it)."""
    try:
        return reverse("aliases:extension_history", args=[login])
    except NoReverseMatch:
        return ""


@dataclass(frozen=True)
class RawResponse:
    body: str
    collapsed: bool
    result_line: str
    summary: str
    cut_note: str


def byte_size(count: int) -> str:
    """1 byte, 900 bytes, 90 KB, 1.5 MB, 100 MB (binary units, as body caps are set)."""
    if count < 1024:
        return f"{count:,} byte{'' if count == 1 else 's'}"
    value, unit = count / 1024, "KB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    shown = f"{value:,.0f}" if unit == "KB" else f"{value:,.1f}".removesuffix(".0")
    return f"{shown} {unit}"


def _line_count(text: str) -> int:
    # Only "\n" ends a line for VICIdial's parser; str.splitlines would also count \r, \f...
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def raw_response_of(*, body: str, received_bytes: int | None, truncated: bool) -> RawResponse:
    """How to show VICIdial's raw answer: whole when short, folded when long, and what was cut."""
    lines = _line_count(body)
    collapsed = lines > LONG_BODY_LINES or len(body) > LONG_BODY_CHARS
    result_line = parse_response(body).result_line if collapsed or truncated else ""
    summary = (
        f"VICIdial's answer: {lines:,} line{'' if lines == 1 else 's'}, "
        f"{byte_size(len(body.encode()))} — show"
    )
    cut_note = ""
    if truncated:
        kept = "the start, the result line and the end" if result_line else "the start and the end"
        sent = byte_size(received_bytes) if received_bytes is not None else "more than it keeps"
        cut_note = f"VICIdial sent {sent}; the portal kept {kept}."
    return RawResponse(body, collapsed, result_line, summary, cut_note)


@register.inclusion_tag("aliases/_raw_response.html")
def raw_response(call) -> dict:
    """VICIdial's raw answer to `call` (a VicidialCall), folded when long."""
    return {
        "response": raw_response_of(
            body=call.response_body,
            received_bytes=call.response_bytes,
            truncated=call.response_truncated,
        )
    }


@register.filter
def server_label(name: str) -> str:
    """A VICIdial server's label, as configured (its name when it has none)."""
    return servers.server_label(name)


@register.simple_tag
def several_servers() -> bool:
    """Whether pages name the server of each row (with one server, nobody needs to know)."""
    return servers.has_several_servers()


@register.filter
def server_setting(name: str, key: str) -> str:
    """The environment variable that configures `key` of the server, e.g. VICIDIAL_API_PASS."""
    return servers.setting_name(name, key)


@register.filter
def outcome_label(outcome: str, event_type: str = "") -> str:
    """An audit event's outcome as people say it:
    `{{ event.outcome|outcome_label:event.event_type }}`."""
    return outcomes.outcome_label(outcome, event_type)


@register.filter(is_safe=True)
def lowerfirst(label: str) -> str:
    """A label put mid-sentence: "Created in VICIdial" -> "created in VICIdial" (|lower would
    say "vicidial"). A label starting with an acronym ("VICIdial ...") is left as it is."""
    text = str(label)
    if not text or text[1:2].isupper():
        return text
    return text[0].lower() + text[1:]
