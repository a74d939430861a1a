"""VICIdial's answers as the real 2.14 server gives them: finding and splitting the result
line, and the portal's classification of each call. Pure: no HTTP, no database.

The protocol facts come from observing a real 2.14-202 server
(tests/fixtures/vicidial-responses.json), not from VICIdial's own documentation.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Literal

from django.db import models


class Keyword(enum.StrEnum):
    """The first word of VICIdial's result line."""

    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    NOTICE = "NOTICE"
    UNRECOGNISED = "UNRECOGNISED"


class CallResult(models.TextChoices):
    """What one HTTP call to VICIdial came to, as the portal acts on it."""

    IN_FLIGHT = "in_flight", "In flight"
    SUCCEEDED = "succeeded", "Succeeded"
    REJECTED = "rejected", "Refused by VICIdial"
    AUTH_FAILED = "auth_failed", "Credentials refused"
    NOT_SENT = "not_sent", "Not sent"
    UNKNOWN = "unknown", "Outcome unknown"


@dataclass(frozen=True)
class ParsedResponse:
    keyword: Keyword
    function: str
    reason: str
    data: tuple[str, ...]
    result_line: str


@dataclass(frozen=True)
class TransportError:
    kind: Literal["not_sent", "unknown"]
    message: str


# With PHP display_errors on, warnings come first and the result line may even follow a
# "<br />" on the same line, so a result line starts at a line start or right after a tag.
_RESULT_LINE = re.compile(r"(?:^|>)[ \t]*(?P<line>(?P<keyword>SUCCESS|ERROR|NOTICE|VERSION): .*)")
_FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_]*")


def parse_response(body: str) -> ParsedResponse:
    """Find and split VICIdial's result line; data fields are split literally on "|"."""
    if not body.strip():
        return _unrecognised("empty response body")
    for line in body.split("\n"):
        match = _RESULT_LINE.search(line.rstrip("\r"))
        if match:
            return _parse_result_line(match["line"], match["keyword"])
    return _unrecognised("no VICIdial result line in response")


def _parse_result_line(line: str, keyword: str) -> ParsedResponse:
    rest = line[len(keyword) + 2 :]
    if keyword == "VERSION":
        return ParsedResponse(Keyword.SUCCESS, "version", "VERSION", tuple(rest.split("|")), line)
    found_keyword = Keyword(keyword)
    function, _, text = rest.partition(" ")
    if not _FUNCTION_NAME.fullmatch(function):
        function, text = "", rest
    # Errors use ": |" (the first one: "Your IP Address is not allowed: 10.0.0.9: |..." has
    # a colon in the reason); "ERROR: Invalid Source - t" is the one error that uses " - ".
    separators = (" - ",) if found_keyword is Keyword.SUCCESS else (": |", " - ")
    for separator in separators:
        reason, found, data = text.partition(separator)
        if found:
            return ParsedResponse(found_keyword, function, reason, tuple(data.split("|")), line)
    return ParsedResponse(found_keyword, function, text, (), line)


def _unrecognised(reason: str) -> ParsedResponse:
    return ParsedResponse(Keyword.UNRECOGNISED, "", reason, (), "")


_AUTH_FAILURES = ("Login incorrect", "Too many login attempts", "Your IP Address is not allowed")


def classify(*, parsed: ParsedResponse, transport_error: TransportError | None) -> CallResult:
    # A SUCCESS line is the evidence, whatever else went wrong: VICIdial can answer HTTP 500
    # after doing the work.
    if parsed.keyword is Keyword.SUCCESS:
        return CallResult.SUCCEEDED
    if transport_error is not None:
        return CallResult(transport_error.kind)
    if parsed.keyword is Keyword.ERROR and parsed.reason.startswith(_AUTH_FAILURES):
        return CallResult.AUTH_FAILED
    if parsed.keyword in (Keyword.ERROR, Keyword.NOTICE):
        return CallResult.REJECTED
    return CallResult.UNKNOWN
