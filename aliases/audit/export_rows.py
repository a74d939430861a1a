"""A chunk of exported events as text in one go, byte for byte what the export wrote per row.

A row is a tuple in EXPORT_KEYS order (chain.CONTENT_KEYS, then chain.LINK_KEYS), as the
database hands it over: occurred_at a datetime (or already the text chain.hashed_time makes
of it, which PostgreSQL can write), the two JSON columns as their text (not parsed by the
ORM). The JSONL line stays json.dumps(chain.export_line(event),
sort_keys=True, ensure_ascii=False); the CSV row stays the csv writer's row of each cell.
Here the JSON columns are parsed once per distinct text (extensions repeat from event to
event), the line is filled into a template of the sorted keys, and a chunk's CSV rows go
through one writerows call. tests/test_export_rows.py proves both equal to the definition.
"""

import json
import re
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from .chain import CONTENT_KEYS, JSON_KEYS, LINK_KEYS, NUMBER_KEYS, hashed_time

EXPORT_KEYS = (*CONTENT_KEYS, *LINK_KEYS)
FIELD = {key: position for position, key in enumerate(EXPORT_KEYS)}
OCCURRED_AT, EXTENSIONS, CHANGES = FIELD["occurred_at"], FIELD["extensions"], FIELD["changes"]
TEXT_KEYS = tuple(key for key in EXPORT_KEYS if key not in NUMBER_KEYS | JSON_KEYS)
# What json.dumps escapes in a string (with ensure_ascii=False): quote, backslash, controls.
NEEDS_ESCAPING = re.compile(r'["\\\x00-\x1f]')
# Parsed JSON texts kept per raw text; emptied when full, so memory stays flat.
CACHE_SIZE = 4096

# json.dumps(value, sort_keys=True, ensure_ascii=False) minus the encoder it builds per call:
# the same C encoder and separators. markers=None skips the check for cycles, which parsed
# JSON never has.
_encode_value = json.encoder.c_make_encoder(
    None, None, json.encoder.encode_basestring, None, ": ", ", ", True, False, True
)
_encode_text = json.encoder.encode_basestring
# The line's fields in json.dumps's order: export_line's keys, sorted.
LINE_KEYS = tuple(sorted(EXPORT_KEYS))


def _json_line_template(quoted: bool) -> str:
    """json.dumps's layout of export_line's dict: keys sorted, ", " and ": " between them;
    with `quoted`, the text values' quotes are in the template (for text needing no escape)."""
    parts = []
    for key in LINE_KEYS:
        value = '"%s"' if quoted and key in TEXT_KEYS else "%s"
        parts.append(f"{json.dumps(key)}: {value}")
    return "{" + ", ".join(parts) + "}\n"


PLAIN_LINE, LINE = _json_line_template(quoted=True), _json_line_template(quoted=False)
_LINE_VALUES = itemgetter(*(FIELD[key] for key in LINE_KEYS))
_TEXTS = itemgetter(*(FIELD[key] for key in TEXT_KEYS))
_NUMBERS = tuple(FIELD[key] for key in NUMBER_KEYS)
_ESCAPED = tuple(FIELD[key] for key in TEXT_KEYS)


def _hashed_time(moment: Any) -> str:
    # Already in that form when the database wrote it (selectors_trail.HashedTimeText).
    return moment if type(moment) is str else hashed_time(moment)


def _dumped(value: Any) -> str:
    return "".join(_encode_value(value, 0))


def _number(value: Any) -> str:
    if value is None:
        return "null"
    return int.__repr__(value) if type(value) is int else _dumped(value)


_scan = json.decoder.JSONDecoder().scan_once


def _parsed(raw: Any) -> Any:
    """What Django's JSONField.from_db_value makes of a column's text (no decoder): json.loads
    of it, or the text itself if that fails. Straight to json.loads's scanner when the value
    fills the text (json.loads then returns it too), skipping its wrapping."""
    if raw is None:
        return None
    try:
        value, end = _scan(raw, 0)
    except (StopIteration, ValueError, TypeError):  # json.loads decides, and says why
        end = -1
    if end == len(raw):
        return value
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


class ExportEncoder:
    """Turns chunks of rows into export text; keeps the JSON texts it has parsed."""

    def __init__(self) -> None:
        self._known: dict[Any, tuple[Any, str]] = {}

    def _json(self, raw: Any) -> tuple[Any, str]:
        """The value the ORM reads from a JSON column's text, and json.dumps of it."""
        known = self._known.get(raw)
        if known is None:
            value = _parsed(raw)
            known = (value, _dumped(value))
            if len(self._known) >= CACHE_SIZE:
                self._known.clear()
            self._known[raw] = known
        return known

    def _line(self, row: Sequence[Any]) -> str:
        values = list(row)
        for position in _NUMBERS:
            values[position] = _number(values[position])
        values[OCCURRED_AT] = _hashed_time(values[OCCURRED_AT])
        values[EXTENSIONS] = self._json(values[EXTENSIONS])[1]
        values[CHANGES] = self._json(values[CHANGES])[1]
        try:
            plain = not NEEDS_ESCAPING.search("".join(_TEXTS(values)))
        except TypeError:  # not all text: let the encoder say what it makes of it
            plain = False
        if plain:
            return PLAIN_LINE % _LINE_VALUES(values)
        for position in _ESCAPED:
            value = values[position]
            values[position] = _encode_text(value) if type(value) is str else _dumped(value)
        return LINE % _LINE_VALUES(values)

    def jsonl(self, rows: Sequence[Sequence[Any]]) -> str:
        """The JSONL lines of `rows`: json.dumps(export_line(event), sort_keys=True,
        ensure_ascii=False) + "\\n" each."""
        return "".join([self._line(row) for row in rows])

    def csv(self, rows: Sequence[Sequence[Any]], formula_starts: tuple[str, ...]) -> str:
        """The CSV rows of `rows`, as csv.writer (the excel dialect) wrote each: the
        extensions joined by spaces, the changes as json.dumps(..., sort_keys=True,
        ensure_ascii=False), a text cell starting with one of `formula_starts` after a
        single quote (views.audit.csv_cell), a cell with a quote, comma or line break
        quoted. Written here rather than by the csv module, whose loop over each character
        cost more than the rest of the row."""
        # A text cell starts with a formula start iff, with every text cell after a NUL,
        # the joined text holds NUL + that start (or it is the first cell's start).
        needles = tuple("\x00" + start for start in formula_starts)
        lines = []
        for row in rows:
            cells = self._csv_cells(row)
            try:
                for position in _NUMBERS:
                    cells[position] = _csv_number(cells[position])
                texts = "\x00" + "\x00".join(_CSV_TEXTS(cells))
            except TypeError:  # not an id, or a text column that is not text
                lines.append(self._csv_line(row, formula_starts))
                continue
            if any(needle in texts for needle in needles):
                lines.append(self._csv_line(row, formula_starts))
                continue
            lines.append(",".join([_csv_quoted(cell) for cell in cells]) + "\r\n")
        return "".join(lines)

    def _csv_cells(self, row: Sequence[Any]) -> list[Any]:
        """export_line's values in column order, as the CSV had them before csv_cell."""
        cells = list(row)
        cells[OCCURRED_AT] = _hashed_time(cells[OCCURRED_AT])
        cells[EXTENSIONS] = " ".join(self._json(cells[EXTENSIONS])[0])
        cells[CHANGES] = self._json(cells[CHANGES])[1]
        return cells

    def _csv_line(self, row: Sequence[Any], formula_starts: tuple[str, ...]) -> str:
        """The row cell by cell, as csv_cell and then csv.writer treat any value."""
        out = []
        for cell in self._csv_cells(row):
            if isinstance(cell, str) and cell.startswith(formula_starts):
                cell = "'" + cell
            out.append(_csv_quoted("" if cell is None else str(cell)))
        return ",".join(out) + "\r\n"


_CSV_TEXTS = itemgetter(*(FIELD[key] for key in EXPORT_KEYS if key not in NUMBER_KEYS))
# What makes csv.writer quote a cell in the excel dialect: its delimiter, its quote, and
# the characters of its line terminator ("\r\n").
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def _csv_number(value: Any) -> str:
    """An id as csv.writer writes it: None as an empty cell. TypeError for anything but an
    int or None, which the cell-by-cell path takes."""
    if value is None:
        return ""
    if type(value) is not int:
        raise TypeError(value)
    return int.__repr__(value)


def _csv_quoted(cell: str) -> str:
    if _NEEDS_QUOTES.search(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell
