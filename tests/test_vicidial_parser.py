"""parse_response and classify against every body the real server produced, and worse."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aliases.simulator import php_warnings
from aliases.vicidial import (
    CallResult,
    Keyword,
    ParsedResponse,
    TransportError,
    classify,
    parse_response,
)

CASES = {
    case["case"]: case
    for case in json.loads(
        (Path(__file__).parent / "fixtures" / "vicidial-responses.json").read_text("utf-8")
    )["cases"]
}

# The portal's policy for every recorded answer of the real server.
EXPECTED_CLASS = {
    CallResult.SUCCEEDED: (
        "V1 V2 V4 A1 A3c A3d A4g A5 A5b A5c A5d A5e A6a A8 A9 A9b A9c A10 A10b NL1b NL2 X1b "
        "U1 U2 U3 U3b U6b U9 U9b U12 U13"
    ),
    CallResult.REJECTED: (
        "A2 A2b A3 A3b A4a A4b A4c A4d A4e A4f X3 X3b X3c X3d X4 X5 X5b X5c X6 X6c "
        "U4 U5 U6 U7 U7b U8 U10 U10b U11 U11b U14 NL3"
    ),
    CallResult.AUTH_FAILED: "X1 X1c X1d X2 X3e X6b X6d",
    CallResult.UNKNOWN: "V3 A7a A7b NL1",
}
CASE_CLASS = {name: cls for cls, names in EXPECTED_CLASS.items() for name in names.split()}


def test_the_policy_table_covers_every_fixture_case_once():
    assert sorted(CASE_CLASS) == sorted(CASES)
    assert sum(len(names.split()) for names in EXPECTED_CLASS.values()) == len(CASES)


@pytest.mark.parametrize("name", CASES)
def test_every_fixture_body_is_classified(name):
    parsed = parse_response(CASES[name]["body"])
    assert isinstance(parsed.keyword, Keyword)
    assert classify(parsed=parsed, transport_error=None) is CASE_CLASS[name]
    if parsed.keyword is not Keyword.UNRECOGNISED:
        assert CASES[name]["body"].startswith(parsed.result_line)


REPRESENTATIVE = {
    "A1": (
        Keyword.SUCCESS,
        "add_phone_alias",
        "PHONE ALIAS HAS BEEN ADDED",
        ("6666", "xyz100", "XYZ testing", "cc100,bb100"),
    ),
    "A2": (Keyword.ERROR, "add_phone_alias", "PHONE ALIAS ALREADY EXISTS", ("6666", "xyz100")),
    "A3b": (Keyword.ERROR, "add_phone_alias", "PHONE DOES NOT EXIST", ("6666", "")),
    "A4d": (
        Keyword.ERROR,
        "add_phone_alias",
        "YOU MUST USE ALL REQUIRED FIELDS",
        ("6666", "", "", ""),
    ),
    "X1": (
        Keyword.ERROR,
        "",
        "Login incorrect, please try again",
        ("6666", "wrongpass", "BAD", ""),
    ),
    "X1d": (Keyword.ERROR, "", "Login incorrect, please try again", ("6666", "", "BAD", "")),
    "X3": (
        Keyword.ERROR,
        "add_phone_alias",
        "USER DOES NOT HAVE PERMISSION TO ADD PHONE ALIASES",
        ("7777", "0"),
    ),
    "X3d": (
        Keyword.ERROR,
        "auth",
        "USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION",
        ("6666", "add_phone_alias", ""),
    ),
    "X4": (Keyword.ERROR, "", "Invalid Source", ("",)),
    "X5": (Keyword.ERROR, "", "Invalid Source", ("t",)),
    "X6": (Keyword.ERROR, "", "NO FUNCTION SPECIFIED", ()),
    "U1": (
        Keyword.SUCCESS,
        "update_phone_alias",
        "PHONE ALIAS HAS BEEN UPDATED",
        ("6666", "xyz100", ""),
    ),
    "U7": (Keyword.NOTICE, "update_phone_alias", "NO UPDATES DEFINED", ("6666", "")),
    "U9": (
        Keyword.SUCCESS,
        "update_phone_alias",
        "PHONE ALIAS HAS BEEN DELETED",
        ("6666", "xyz100"),
    ),
    "V1": (
        Keyword.SUCCESS,
        "version",
        "VERSION",
        ("2.14-202", "BUILD: 250720-1841", "DATE: 2026-11-26 20:25:00", "EPOCH: 1795724700")
        + ("DST: 0", "TZ: -5.00", "TZNOW: -5.00", ""),
    ),
    "V3": (Keyword.UNRECOGNISED, "", "no VICIdial result line in response", ()),
    "A7a": (Keyword.UNRECOGNISED, "", "empty response body", ()),
}


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_representative_bodies_parse_to_concrete_values(name):
    parsed = parse_response(CASES[name]["body"])
    assert (parsed.keyword, parsed.function, parsed.reason, parsed.data) == REPRESENTATIVE[name]


@pytest.mark.parametrize(
    ("line", "reason", "data", "expected_class"),
    [
        (
            "ERROR: Too many login attempts, try again in 15 minutes: |6666|LOCK|",
            "Too many login attempts, try again in 15 minutes",
            ("6666", "LOCK", ""),
            CallResult.AUTH_FAILED,
        ),
        (
            "ERROR: Your IP Address is not allowed: 10.0.0.9: |6666|IPBLOCK|",
            "Your IP Address is not allowed: 10.0.0.9",
            ("6666", "IPBLOCK", ""),
            CallResult.AUTH_FAILED,
        ),
        (
            "NOTICE: update_phone_alias USER DOES NOT HAVE PERMISSION TO DELETE PHONE ALIASES"
            ": |6666|0",
            "USER DOES NOT HAVE PERMISSION TO DELETE PHONE ALIASES",
            ("6666", "0"),
            CallResult.REJECTED,
        ),
        (
            "ERROR: add_phone_alias YOU MUST USE ALL REQUIRED FIELDS: |6666|x|Sales - East|",
            "YOU MUST USE ALL REQUIRED FIELDS",
            ("6666", "x", "Sales - East", ""),
            CallResult.REJECTED,
        ),
    ],
)
def test_lines_beyond_the_fixtures(line, reason, data, expected_class):
    parsed = parse_response(line + "\n")
    assert (parsed.reason, parsed.data, parsed.result_line) == (reason, data, line)
    assert classify(parsed=parsed, transport_error=None) is expected_class


SUCCESS_LINE = "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|q1|Sales - East|cc100"


@pytest.mark.parametrize(
    "body",
    [
        php_warnings(300) + SUCCESS_LINE + "\n",
        php_warnings(3, last_line_break=False) + SUCCESS_LINE + "\n",
        SUCCESS_LINE + "\r\n",
        "\n\n  " + SUCCESS_LINE,
        SUCCESS_LINE + "\nERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|q1\n",
    ],
    ids=["30kb-warnings", "after-br-on-same-line", "crlf", "leading-blank-lines", "first-wins"],
)
def test_the_result_line_is_found_wherever_it_is(body):
    parsed = parse_response(body)
    assert parsed.result_line == SUCCESS_LINE
    assert parsed.reason == "PHONE ALIAS HAS BEEN ADDED"
    assert parsed.data == ("6666", "q1", "Sales - East", "cc100")


def test_two_line_invalid_source_takes_the_first_line():
    parsed = parse_response("ERROR: Invalid Source - t\nERROR: Invalid Source: |t|\n")
    assert parsed.result_line == "ERROR: Invalid Source - t"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty response body"),
        (" \r\n\t", "empty response body"),
        (
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "no VICIdial result line in response",
        ),
        ("Coffee: coffee|Error 418 I'm a teapot", "no VICIdial result line in response"),
        (
            b"\x89PNG\r\n\x1a\n\xff\xfe".decode("utf-8", "replace"),
            "no VICIdial result line in response",
        ),
        (
            "<b>Fatal error</b>:  Uncaught mysqli_sql_exception: ERROR",
            "no VICIdial result line in response",
        ),
        ("success: lower case is not VICIdial", "no VICIdial result line in response"),
    ],
)
def test_anything_else_is_unrecognised_with_a_readable_reason(body, reason):
    parsed = parse_response(body)
    assert parsed == ParsedResponse(Keyword.UNRECOGNISED, "", reason, (), "")
    assert classify(parsed=parsed, transport_error=None) is CallResult.UNKNOWN


def test_a_success_line_wins_over_a_transport_error_and_the_status():
    success = parse_response(SUCCESS_LINE)
    cut_off = TransportError("unknown", "response cut off while reading the body")
    assert classify(parsed=success, transport_error=cut_off) is CallResult.SUCCEEDED
    nothing = parse_response("")
    assert classify(parsed=nothing, transport_error=cut_off) is CallResult.UNKNOWN
    refused = TransportError("not_sent", "connection refused")
    assert classify(parsed=nothing, transport_error=refused) is CallResult.NOT_SENT


@given(st.text())
def test_parse_response_accepts_any_text(body):
    parsed = parse_response(body)
    assert isinstance(parsed, ParsedResponse) and isinstance(parsed.keyword, Keyword)
    assert isinstance(classify(parsed=parsed, transport_error=None), CallResult)


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="|\r\n")), min_size=1))
def test_data_fields_come_back_as_sent(fields):
    parsed = parse_response(
        f"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - {'|'.join(fields)}\n"
    )
    assert parsed.data == tuple(fields)
