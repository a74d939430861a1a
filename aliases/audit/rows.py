"""An event as the database hands it over in bulk, and its canonical bytes, fast.

A row is a list of bytes fields in ROW_KEYS order: the hashed content (CONTENT_KEYS), the
links (LINK_KEYS) and the per-extension index's logins. Text is UTF-8, ids and sequence
are decimal or b"null", occurred_at is already in hashed_time's form, the JSON columns
and the index are JSON text in whatever spacing and key order the database writes.

chain.canonical_bytes stays the definition. RowEncoder builds the same bytes from a
template for the usual event, whose text fields need no JSON escaping, and otherwise calls
canonical_bytes itself; tests/test_audit_rows.py proves the two equal for any content.
The JSON columns are re-encoded by orjson where it writes what json writes, by json
elsewhere (canonical_json; tests/test_audit_json_fast_path.py).
"""

import json
import re
from operator import itemgetter
from typing import Any

import orjson

from .chain import CONTENT_KEYS, JSON_KEYS, LINK_KEYS, NUMBER_KEYS, canonical_bytes, index_logins

ROW_KEYS = (*CONTENT_KEYS, *LINK_KEYS, "indexed")
FIELD = {key: position for position, key in enumerate(ROW_KEYS)}
TEXT_KEYS = tuple(key for key in CONTENT_KEYS if key not in NUMBER_KEYS | JSON_KEYS)
TEXT_FIELDS = tuple(FIELD[key] for key in TEXT_KEYS)
# What json.dumps escapes in a string (with ensure_ascii=False): quote, backslash, controls.
NEEDS_ESCAPING = re.compile(rb'["\\\x00-\x1f]')
# The bytes such a string holds as they are: deleted by translate(), they leave nothing of
# plain text. Two to three times faster than the search.
VERBATIM = bytes(byte for byte in range(256) if byte >= 0x20 and byte not in b'"\\')
# Entries a BoundedCache keeps (encoded JSON per raw text, here and in export_rows): most
# events repeat their extensions and many their changes.
CACHE_SIZE = 4096


def _template() -> bytes:
    """canonical_bytes's layout: keys sorted, no spaces; text values quoted in place."""
    parts = []
    for key in sorted(CONTENT_KEYS):
        value = b'"%b"' if key in TEXT_KEYS else b"%b"
        parts.append(b'"' + key.encode() + b'":' + value)
    return b"{" + b",".join(parts) + b"}%b"


TEMPLATE = _template()
# The template's fields: the content in sorted key order, then the hash linked to.
TEMPLATE_KEYS = (*sorted(CONTENT_KEYS), "prev_hash")


def content_of(row: list[bytes | None]) -> dict[str, Any]:
    """The hashed content as the ORM would read it: what canonical_bytes is defined over."""
    content: dict[str, Any] = {}
    for key, value in zip(CONTENT_KEYS, row, strict=False):
        if value is None:
            content[key] = None
        elif key in NUMBER_KEYS:
            content[key] = None if value == b"null" else int(value)
        elif key in JSON_KEYS:
            content[key] = json.loads(value)
        else:
            content[key] = value.decode()
    return content


# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False), as
# canonical_bytes calls it, minus the encoder json.dumps builds per call; the same C
# encoder underneath. markers=None skips the check for cycles, which parsed JSON never has.
_encode = json.encoder.c_make_encoder(
    None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True
)
_scan = json.decoder.JSONDecoder().scan_once


# orjson parses and encodes JSON as json does, keys sorted by code point and strings
# escaped alike, except for numbers: it spells some floats otherwise (1e-07 as 1e-7), and
# reads integers beyond 64 bits as floats. Every such number has a digit followed by ".",
# "e" or "E", or nineteen digits in a row: mapped to "0." and "0" * 19 they are found by
# two substring searches, and then (or if orjson refuses the text) json decides.
_NUMBER_SHAPES = bytes.maketrans(b"123456789eE", b"000000000..")
_NOT_AN_INTEGER, _WIDE_INTEGER = b"0.", b"0" * 19


def canonical_json(raw: bytes) -> bytes:
    """A JSON column's text re-encoded as canonical_bytes encodes its parsed value: the
    database's own spelling (spaces, key order) is not what was hashed."""
    shapes = raw.translate(_NUMBER_SHAPES)
    if _NOT_AN_INTEGER not in shapes and _WIDE_INTEGER not in shapes:
        try:
            return orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass  # NaN, a lone surrogate, too deep, not JSON: json reads it, or raises
    return exact_json(raw)


def exact_json(raw: bytes) -> bytes:
    """canonical_json through json itself, the encoder canonical_bytes calls."""
    text = raw.decode()
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        # Leading or trailing blanks, or not JSON: json.loads decides, as the ORM would.
        value = json.loads(text)
    return "".join(_encode(value, 0)).encode()


# The template's fields around its two JSON values, each group in the template's order.
_CHANGES_AT, _EXTENSIONS_AT = TEMPLATE_KEYS.index("changes"), TEMPLATE_KEYS.index("extensions")
_HEAD = itemgetter(*(FIELD[key] for key in TEMPLATE_KEYS[:_CHANGES_AT]))
_MIDDLE = itemgetter(*(FIELD[key] for key in TEMPLATE_KEYS[_CHANGES_AT + 1 : _EXTENSIONS_AT]))
_TAIL = itemgetter(*(FIELD[key] for key in TEMPLATE_KEYS[_EXTENSIONS_AT + 1 :]))
_TEXTS = itemgetter(*TEXT_FIELDS)


class RowEncoder:
    def __init__(self) -> None:
        # One cache per column: the extensions repeat far more than the changes do, and a
        # shared cache would be emptied by the changes before the extensions come again.
        self._changes = _JsonCache()
        self._extensions = _JsonCache()

    def canonical(self, row: list[bytes | None]) -> bytes:
        """canonical_bytes(content_of(row), prev_hash), byte for byte."""
        try:
            plain = not b"".join(_TEXTS(row)).translate(None, VERBATIM)
        except TypeError:  # a NULL
            plain = False
        if not plain:
            return self.reference(row)
        changes = self._changes.get(row[CHANGES]) or self._changes.encode(row[CHANGES])
        extensions = self._extensions.get(row[EXTENSIONS]) or self._extensions.encode(
            row[EXTENSIONS]
        )
        return TEMPLATE % (*_HEAD(row), changes, *_MIDDLE(row), extensions, *_TAIL(row))

    @staticmethod
    def reference(row: list[bytes | None]) -> bytes:
        return canonical_bytes(content_of(row), row[PREV_HASH].decode())


class BoundedCache(dict):
    """Values kept per key, emptied when full so memory stays flat however long the walk."""

    def keep(self, key: Any, value: Any) -> Any:
        if len(self) >= CACHE_SIZE:
            self.clear()
        self[key] = value
        return value


class _JsonCache(BoundedCache):
    """canonical_json per raw text."""

    def encode(self, raw: bytes | None) -> bytes:
        return b"null" if raw is None else self.keep(raw, canonical_json(raw))


EXTENSIONS, CHANGES = FIELD["extensions"], FIELD["changes"]
SEQUENCE, PREV_HASH, HASH = FIELD["sequence"], FIELD["prev_hash"], FIELD["hash"]
KEY_ID, MAC, INDEXED = FIELD["key_id"], FIELD["mac"], FIELD["indexed"]


def expected_index(extensions: Any) -> bytes | None:
    """The index's logins as PostgreSQL's json_agg writes them, for an event naming
    `extensions` and written by chain.record; None where that text would not be plain.
    Equal texts prove the index right; any other text gets the exact comparison."""
    if not isinstance(extensions, list) or not all(isinstance(x, str) for x in extensions):
        return None
    logins = [login.encode() for login in index_logins(extensions)]
    if any(NEEDS_ESCAPING.search(login) for login in logins):
        return None
    return b'["' + b'", "'.join(logins) + b'"]' if logins else b"[]"


_COPY_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_COPY_LETTERS = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _copy_unescaped(match: re.Match) -> bytes:
    code = match.group(1)
    if code[:1] == b"x" and len(code) > 1:
        return bytes([int(code[1:], 16)])
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    return _COPY_LETTERS.get(code, code)


def copy_field(text: bytes) -> bytes | None:
    """A field of COPY ... TO STDOUT's text format, as stored (None for NULL)."""
    if text == b"\\N":
        return None
    return _COPY_ESCAPE.sub(_copy_unescaped, text)
