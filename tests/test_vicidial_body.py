"""BodyCollector: VICIdial's answer read as a stream, capped, with its result line kept."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aliases.simulator import php_warnings
from aliases.vicidial import parse_response
from aliases.vicidial.body import LINE_LIMIT, BodyCollector

SUCCESS = b"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|xyz100|XYZ|cc100"


def collect(body: bytes, cap: int = 4096, chunk: int = 7):
    collector = BodyCollector(cap)
    for start in range(0, len(body), chunk):
        collector.feed(body[start : start + chunk])
    return collector.finish()


def test_a_body_within_the_cap_is_kept_whole_and_word_for_word():
    body = b"<b>x</b>\r\n" + SUCCESS + b"\n\x00tail"
    captured = collect(body, cap=len(body))
    assert (captured.text, captured.size, captured.truncated) == (
        body.decode().replace("\x00", "\ufffd"),
        len(body),
        False,
    )
    assert captured.result_line == SUCCESS.decode()


def test_a_result_line_split_across_many_chunks_is_found():
    body = php_warnings(60).encode() + SUCCESS + b"\n" + php_warnings(60).encode()
    for chunk in (1, 2, 5, 64, 1000):
        captured = collect(body, cap=4096, chunk=chunk)
        assert captured.truncated and captured.result_line == SUCCESS.decode()
        assert captured.text.count(SUCCESS.decode()) == 1


def test_the_first_result_line_wins_as_in_parse_response():
    body = b"ERROR: Invalid Source - t\nERROR: Invalid Source: |t|\n" + SUCCESS + b"\n"
    assert collect(body * 200).result_line == "ERROR: Invalid Source - t"


def test_a_result_line_after_a_tag_at_the_end_of_a_huge_line_is_found():
    body = b"x" * (3 * LINE_LIMIT) + b"<br />" + SUCCESS + b"\n"
    assert collect(body, chunk=1000).result_line == SUCCESS.decode()


def test_a_cut_in_a_huge_line_is_not_mistaken_for_a_line_start():
    # Without '>' or a line break before it, "SUCCESS:" in the middle of a line is no result.
    body = b"x" * (LINE_LIMIT + 10) + SUCCESS + b"\n"
    for chunk in (LINE_LIMIT + 10, 997):
        captured = collect(body, chunk=chunk)
        assert captured.result_line == ""
        assert parse_response(body.decode()).result_line == ""


def test_memory_stays_bounded_whatever_the_size():
    collector = BodyCollector(4096)
    block = php_warnings(100).encode()
    for _ in range(2000):  # about 28 MB
        collector.feed(block)
    assert len(collector._head) + len(collector._tail) <= 4096
    assert len(collector._pending) <= LINE_LIMIT + 1
    assert collector.finish().size == 2000 * len(block)


pieces = st.sampled_from(
    [
        b"<br />\n",
        b"<b>Warning</b>:  Undefined $x<br />",
        b"\n",
        b"\r\n",
        b" \t",
        b">",
        b"SUCCESS: ",
        b"ERROR: ",
        b"NOTICE: update_phone_alias NO UPDATES DEFINED: |6666|",
        b"VERSION: 2.14-202|",
        SUCCESS,
        b"ERROR: add_phone_alias PHONE ALIAS ALREADY EXISTS: |6666|xyz100",
        b"plain text",
    ]
)


@given(
    parts=st.lists(pieces, max_size=60),
    chunk=st.integers(min_value=1, max_value=300),
    cap=st.integers(min_value=64, max_value=2048),
)
def test_the_streamed_result_line_is_the_one_parse_response_finds(parts, chunk, cap):
    body = b"".join(parts)
    captured = collect(body, cap=cap, chunk=chunk)
    assert captured.result_line == parse_response(body.decode()).result_line
    assert captured.size == len(body)
    if not captured.truncated:
        assert captured.text == body.decode()
    else:
        assert len(captured.text.encode()) <= cap + len(captured.result_line) + 120
        assert captured.result_line in captured.text


@pytest.mark.parametrize("cap", [4096, 5000])
def test_the_excerpt_starts_and_ends_on_line_boundaries(cap):
    body = php_warnings(200).encode() + SUCCESS + b"\n" + php_warnings(200).encode()
    text = collect(body, cap=cap, chunk=512).text
    assert text.startswith("<br />\n<b>Warning</b>")
    assert text.endswith("</b><br />\n")
    head = text.split("[...")[0]
    assert head.endswith("\n")
