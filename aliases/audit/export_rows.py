"""A chunk of exported events as text in one go, byte for byte what the export wrote per row.

A row is a tuple in EXPORT_KEYS order (chain.CONTENT_KEYS, then chain.LINK_KEYS), as the
database hands it over: occurred_at a datetime (or already the text chain.hashed_time makes
of it, which PostgreSQL can write), the two JSON columns as their text (not parsed by the
ORM). The JSONL line stays json.dumps(chain.export_line(event),
sort_keys=True, ensure_ascii=False); the CSV row stays the csv writer's row of each cell.
Here the JSON columns are parsed once per distinct text (extensions repeat from event to
event), and a chunk is written a column at a time: a column of ids or of text that needs no
escaping, quoting or formula guard (most are) is found so with one look at all its cells,
and the functions that write a cell run over a whole column in C (map) rather than a Python
call per cell. The lines are then filled into a template of the sorted keys, the CSV rows
joined. tests/test_export_rows.py proves both equal to the definition.
"""

import json
import re
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from ..spreadsheet import FORMULA_STARTS, csv_cell
from .chain import CONTENT_KEYS, JSON_KEYS, LINK_KEYS, NUMBER_KEYS, hashed_time
from .rows import BoundedCache

EXPORT_KEYS = (*CONTENT_KEYS, *LINK_KEYS)
FIELD = {key: position for position, key in enumerate(EXPORT_KEYS)}
OCCURRED_AT, EXTENSIONS, CHANGES = FIELD["occurred_at"], FIELD["extensions"], FIELD["changes"]
TEXT_KEYS = tuple(key for key in EXPORT_KEYS if key not in NUMBER_KEYS | JSON_KEYS)
# What json.dumps escapes in a string (with ensure_ascii=False): quote, backslash, controls.
NEEDS_ESCAPING = re.compile(r'["\\\x00-\x1f]')

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
_LINE_POSITIONS = tuple(FIELD[key] for key in LINE_KEYS)
NoneType = type(None)


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
    """Turns chunks of rows into export text; keeps what it wrote of the JSON texts.

    Only text is kept, never the parsed values: thousands of parsed dicts and lists held
    here made each of the garbage collector's full passes walk them all (a third of the
    time of a chunk)."""

    def __init__(self) -> None:
        # What was written of each JSON text, and each extensions cell, per raw text.
        self._known = BoundedCache()
        self._joined = BoundedCache()

    def _json(self, raw: Any) -> str:
        """json.dumps of the value the ORM reads from a JSON column's text."""
        dumped = self._known.get(raw)
        if dumped is None:
            dumped = self._known.keep(raw, _dumped(_parsed(raw)))
        return dumped

    def _extensions_cell(self, raw: Any) -> str:
        """The CSV's extensions cell: the value read from the column's text, joined by
        spaces (TypeError if that is not text or a list of texts)."""
        cell = self._joined.get(raw)
        if cell is None:
            cell = self._joined.keep(raw, " ".join(_parsed(raw)))
        return cell

    def _line(self, row: Sequence[Any]) -> str:
        values = list(row)
        for position in _NUMBERS:
            values[position] = _number(values[position])
        values[OCCURRED_AT] = _hashed_time(values[OCCURRED_AT])
        values[EXTENSIONS] = self._json(values[EXTENSIONS])
        values[CHANGES] = self._json(values[CHANGES])
        try:
            plain = not NEEDS_ESCAPING.search("".join(_TEXTS(values)))
        except TypeError:  # not all text: let the encoder say what it makes of it
            plain = False
        if plain:
            return PLAIN_LINE % _LINE_VALUES(values)
        for position in _ESCAPED:
            values[position] = _json_text(values[position])
        return LINE % _LINE_VALUES(values)

    def jsonl(self, rows: Sequence[Sequence[Any]]) -> str:
        """The JSONL lines of `rows`: json.dumps(export_line(event), sort_keys=True,
        ensure_ascii=False) + "\\n" each."""
        columns = _columns(rows)
        if columns is None:
            return "".join([self._line(row) for row in rows])
        for position in _NUMBERS:
            columns[position] = _json_numbers(columns[position])
        columns[OCCURRED_AT] = list(map(_hashed_time, columns[OCCURRED_AT]))
        for position in _ESCAPED:
            columns[position] = _json_texts(columns[position])
        for position in (EXTENSIONS, CHANGES):
            columns[position] = list(map(self._json, columns[position]))
        in_line_order = [columns[position] for position in _LINE_POSITIONS]
        return "".join([LINE % values for values in zip(*in_line_order, strict=True)])

    def csv(self, rows: Sequence[Sequence[Any]]) -> str:
        """The CSV rows of `rows`, as csv.writer (the excel dialect) wrote each: the
        extensions joined by spaces, the changes as json.dumps(..., sort_keys=True,
        ensure_ascii=False), a text cell a spreadsheet would run after a single quote
        (spreadsheet.csv_cell), a cell with a quote, comma or line break
        quoted. Written here rather than by the csv module, whose loop over each character
        cost more than the rest of the row."""
        columns = _columns(rows)
        if columns is None:
            return self._csv_by_rows(rows)
        columns[OCCURRED_AT] = list(map(_hashed_time, columns[OCCURRED_AT]))
        columns[EXTENSIONS] = list(map(self._extensions_cell, columns[EXTENSIONS]))
        columns[CHANGES] = list(map(self._json, columns[CHANGES]))
        try:
            for position in _NUMBERS:
                columns[position] = _csv_numbers(columns[position])
            for position in _CSV_TEXT_POSITIONS:
                columns[position] = _csv_texts(columns[position])
        except TypeError:  # not an id, or a text column that is not text
            return self._csv_by_rows(rows)
        return "\r\n".join(map(",".join, zip(*columns, strict=True))) + "\r\n"

    def _csv_by_rows(self, rows: Sequence[Sequence[Any]]) -> str:
        """A row at a time: a row with a cell that is neither an id nor text, cell by cell."""
        # A text cell starts with a formula start iff, with every text cell after a NUL,
        # the joined text holds NUL + that start (or it is the first cell's start).
        needles = tuple("\x00" + start for start in FORMULA_STARTS)
        lines = []
        for row in rows:
            cells = self._csv_cells(row)
            try:
                for position in _NUMBERS:
                    cells[position] = _csv_number(cells[position])
                texts = "\x00" + "\x00".join(_CSV_TEXTS(cells))
            except TypeError:  # not an id, or a text column that is not text
                lines.append(self._csv_line(row))
                continue
            if any(needle in texts for needle in needles):
                lines.append(self._csv_line(row))
                continue
            lines.append(",".join([_csv_quoted(cell) for cell in cells]) + "\r\n")
        return "".join(lines)

    def _csv_cells(self, row: Sequence[Any]) -> list[Any]:
        """export_line's values in column order, as the CSV had them before csv_cell."""
        cells = list(row)
        cells[OCCURRED_AT] = _hashed_time(cells[OCCURRED_AT])
        cells[EXTENSIONS] = self._extensions_cell(cells[EXTENSIONS])
        cells[CHANGES] = self._json(cells[CHANGES])
        return cells

    def _csv_line(self, row: Sequence[Any]) -> str:
        """The row cell by cell, as csv_cell and then csv.writer treat any value."""
        out = []
        for cell in map(csv_cell, self._csv_cells(row)):
            out.append(_csv_quoted("" if cell is None else str(cell)))
        return ",".join(out) + "\r\n"


_CSV_TEXT_POSITIONS = tuple(FIELD[key] for key in EXPORT_KEYS if key not in NUMBER_KEYS)
_CSV_TEXTS = itemgetter(*_CSV_TEXT_POSITIONS)
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


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]] | None:
    """The chunk's columns; None (a row at a time) unless every row has one cell per key."""
    if set(map(len, rows)) != {len(EXPORT_KEYS)}:
        return None
    return [list(column) for column in zip(*rows, strict=True)]


def _json_numbers(column: list[Any]) -> list[str]:
    if set(map(type, column)) <= {int}:
        return list(map(int.__repr__, column))
    return list(map(_number, column))


def _json_text(value: Any) -> str:
    return _encode_text(value) if type(value) is str else _dumped(value)


def _json_texts(column: list[Any]) -> list[str]:
    if set(map(type, column)) <= {str}:
        return list(map(_encode_text, column))
    return list(map(_json_text, column))


def _csv_numbers(column: list[Any]) -> list[str]:
    """The ids as _csv_number writes them; TypeError for anything but ints and None."""
    types = set(map(type, column))
    if types <= {int}:
        return list(map(int.__repr__, column))
    if types <= {int, NoneType}:
        return ["" if value is None else int.__repr__(value) for value in column]
    raise TypeError(types)


def _csv_texts(column: list[str]) -> list[str]:
    """A text column as csv_cell and csv.writer write each cell; TypeError if one is not
    text. A cell starts with a formula start iff, with every cell after a NUL, the joined
    text holds NUL + that start; the cells are written again only if one might need it."""
    joined = "\x00" + "\x00".join(column)
    if not _NEEDS_QUOTES.search(joined) and not any(
        "\x00" + start in joined for start in FORMULA_STARTS
    ):
        return column
    # Written once per distinct cell: user agents and reasons repeat.
    written = {cell: _csv_quoted(csv_cell(cell)) for cell in set(column)}
    return list(map(written.__getitem__, column))
