"""Reading VICIdial's answer as a stream, keeping a bounded excerpt of it.

Real answers are a few hundred bytes, or about 90 KB when PHP's display_errors puts
warnings first. A hostile or broken server can send far more: the portal keeps the start,
the end and the result line (wherever it is), and records how much it cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The result line protocol.parse_response looks for, found in the bytes as they arrive.
_RESULT_LINE = re.compile(
    rb"(?:^|>)[ \t]*(?P<line>(?:SUCCESS|ERROR|NOTICE|VERSION): [^\n]*)", re.MULTILINE
)
_KEYWORDS = (b"SUCCESS: ", b"ERROR: ", b"NOTICE: ", b"VERSION: ")
# A result line is under 1 KB (its widest field, the logins, is 255 wide), so of a longer
# unfinished line only the last LINE_LIMIT bytes are kept for scanning. The NUL put in
# front of them keeps the cut from looking like a line start.
LINE_LIMIT = 8 * 1024
_NOT_A_LINE_START = b"\x00"


@dataclass(frozen=True)
class CappedBody:
    text: str  # the whole body, or its start, result line and end with "[... N bytes cut ...]"
    size: int  # bytes received
    truncated: bool
    result_line: str  # the first result line, found while streaming ("" if none)


class BodyCollector:
    """Fed the body chunk by chunk, it holds about `cap` bytes at most, whatever comes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._head_limit = cap // 2
        self._tail_limit = cap - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.size = 0
        self._pending = b""
        self._pending_offset = 0  # stream offset of _pending[0]
        self._result: bytes | None = None
        self._result_span = (0, 0)

    def feed(self, chunk: bytes) -> None:
        if self._result is None:
            self._scan(chunk)
        self.size += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        self._tail += chunk
        if len(self._tail) > self._tail_limit:
            del self._tail[: len(self._tail) - self._tail_limit]

    def finish(self) -> CappedBody:
        if self._result is None and self._pending:
            self._search(self._pending)  # the last line may have no newline
        result_line = (self._result or b"").rstrip(b"\r")
        if self.size <= self.cap:
            whole = bytes(self._head + self._tail)
            return CappedBody(_decoded(whole), self.size, False, _decoded(result_line))
        head = _up_to_last_newline(bytes(self._head))
        tail = _from_first_newline(bytes(self._tail))
        tail_start = self.size - len(tail)
        line_start, line_end = self._result_span
        parts = [head]
        in_head, in_tail = line_end <= len(head), line_start >= tail_start
        if result_line and not in_head and not in_tail:
            parts += [
                _marker(line_start - len(head), "before the result line"),
                result_line + b"\n",
                _marker(tail_start - line_end - 1, "after it"),
            ]
        else:
            parts.append(_marker(tail_start - len(head), ""))
        parts.append(tail)
        return CappedBody(_decoded(b"".join(parts)), self.size, True, _decoded(result_line))

    def _scan(self, chunk: bytes) -> None:
        buffer = self._pending + chunk
        last_newline = buffer.rfind(b"\n")
        if last_newline != -1:
            if self._search(buffer[: last_newline + 1]):
                self._pending = b""
                return
            self._pending_offset += last_newline + 1
            buffer = buffer[last_newline + 1 :]
        if len(buffer) > LINE_LIMIT:
            self._pending_offset += len(buffer) - LINE_LIMIT - len(_NOT_A_LINE_START)
            buffer = _NOT_A_LINE_START + buffer[-LINE_LIMIT:]
        self._pending = buffer

    def _search(self, lines: bytes) -> bool:
        # bytes.find runs at memory speed; the regex only where a keyword occurs at all.
        if not any(keyword in lines for keyword in _KEYWORDS):
            return False
        match = _RESULT_LINE.search(lines)
        if match is None:
            return False
        self._result = match["line"]
        self._result_span = (
            self._pending_offset + match.start("line"),
            self._pending_offset + match.end("line"),
        )
        return True


def _decoded(data: bytes) -> str:
    # PostgreSQL text cannot hold NUL; everything else is kept word for word.
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _up_to_last_newline(data: bytes) -> bytes:
    # Cutting at line ends keeps partial lines (and a partial secret) out of the excerpt.
    end = data.rfind(b"\n")
    return data[: end + 1] if end > 0 else data


def _from_first_newline(data: bytes) -> bytes:
    start = data.find(b"\n")
    return data[start + 1 :] if 0 <= start < len(data) - 1 else data


def _marker(cut: int, where: str) -> bytes:
    where = f" {where}" if where else ""
    return f"[... {max(cut, 0):,} bytes cut{where} ...]\n".encode()
