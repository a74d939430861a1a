"""Reading a bulk request CSV: the file's limits, its encoding and its header, and the rows
as text. What a row asks for is checked by services/bulk_upload.py, with the forms' rules."""

import csv
import hashlib
import io
from dataclasses import dataclass

MAX_BYTES = 512 * 1024
MAX_ROWS = 500

COLUMNS = ("server", "kind", "alias_id", "alias_name", "phone_logins", "justification")
OPTIONAL_COLUMNS = ("server",)
REQUIRED_COLUMNS = tuple(name for name in COLUMNS if name not in OPTIONAL_COLUMNS)

SAVE_AS_UTF8 = 'In your spreadsheet, save the file as "CSV UTF-8" and upload it again.'


@dataclass(frozen=True)
class RowError:
    """A problem of one row (`row` as a spreadsheet numbers it: the header is row 1) and
    one column ("" for the row as a whole)."""

    row: int
    column: str
    problem: str

    def as_json(self) -> dict[str, object]:
        # PostgreSQL cannot store NUL, which a file may well contain.
        return {
            "row": self.row,
            "column": self.column,
            "problem": self.problem.replace("\x00", "\ufffd"),
        }


@dataclass(frozen=True)
class CsvRow:
    number: int
    values: dict[str, str]


class FileRefused(ValueError):
    """The file as a whole cannot be read: nothing in it is looked at further."""

    def __init__(self, reason: str, errors: list[RowError] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def check_size(content: bytes) -> None:
    if len(content) > MAX_BYTES:
        raise FileRefused(
            f"the file is larger than {MAX_BYTES // 1024} KB, the most one upload takes. "
            f"Split it into files of at most {MAX_ROWS} rows and upload them one by one."
        )
    if not content.strip():
        raise FileRefused(
            "the file is empty. Download the template, add one row per request and upload it."
        )


def decode(content: bytes) -> str:
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte order mark.
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        utf16 = content[:2] in (b"\xff\xfe", b"\xfe\xff")
        what = 'UTF-16 ("Unicode text")' if utf16 else "not UTF-8 text"
        raise FileRefused(
            f"the file is {what}: byte {error.start + 1} cannot be read as UTF-8. {SAVE_AS_UTF8}"
        ) from None


def _header_errors(names: list[str]) -> list[RowError]:
    errors = [
        RowError(1, name, f"the column {name} is missing")
        for name in REQUIRED_COLUMNS
        if name not in names
    ]
    for position, name in enumerate(names, start=1):
        if not name:
            errors.append(RowError(1, f"column {position}", "this column has no name"))
        elif name not in COLUMNS:
            errors.append(RowError(1, name, f"{name!r} is not a column of this file"))
        elif names.index(name) != position - 1:
            errors.append(RowError(1, name, f"the column {name} appears twice"))
    return errors


def _header_refusal(names: list[str], errors: list[RowError]) -> FileRefused:
    reason = (
        f"the header row (row 1) must name the columns {', '.join(COLUMNS)} "
        f"({', '.join(OPTIONAL_COLUMNS)} may be left out), in any order and letter case."
    )
    if len(names) == 1 and ";" in names[0]:
        reason += " The file seems to use ';' between columns: save it as CSV with commas."
    else:
        reason += " Download the template to start from a header that works."
    return FileRefused(reason, errors)


def read_rows(text: str) -> list[CsvRow]:
    """The data rows by name, blank lines left out (each still counts as a row). Raises
    FileRefused for a file that cannot be read as this CSV."""
    records: list[list[str]] = []
    # skipinitialspace: "add, sales_desk" is CSV formatting, not a name starting with a space.
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        records.extend(reader)
    except csv.Error as error:
        raise FileRefused(
            f"row {len(records) + 1} cannot be read as CSV ({error}). Check its quotes: a "
            'cell with a comma in it is written "like, this".'
        ) from None
    if not records:
        raise FileRefused("the file is empty. Download the template to start from its header.")
    names = [name.strip().lower() for name in records[0]]
    errors = _header_errors(names)
    if errors:
        raise _header_refusal(names, errors)
    rows = [
        CsvRow(number, _by_name(names, cells))
        for number, cells in enumerate(records[1:], start=2)
        if any(cell.strip() for cell in cells)
    ]
    if not rows:
        raise FileRefused(
            "the file has a header but no rows. Add one row per request and upload it again."
        )
    if len(rows) > MAX_ROWS:
        raise FileRefused(
            f"the file has {len(rows)} rows; one upload takes at most {MAX_ROWS}. Split it "
            "into several files, each with the header row, and upload them one by one."
        )
    return rows


# The cells beyond the header's columns, under a name no column has.
EXTRA = "_extra"


def _by_name(names: list[str], cells: list[str]) -> dict[str, str]:
    values = {
        name: (cells[index] if index < len(cells) else "") for index, name in enumerate(names)
    }
    extra = [f"column {index + 1}" for index in range(len(names), len(cells)) if cells[index]]
    if extra:
        values[EXTRA] = ", ".join(extra)
    return values


def template_rows() -> list[list[str]]:
    """The downloadable template: the header and an example of each common kind."""
    return [
        list(COLUMNS),
        ["", "add", "sales_desk", "Sales desk", "1001, 1002", "New sales team needs one number."],
        ["", "change", "support_line", "Support line", "1003", "Support moved to desk 1003."],
    ]


def template_csv() -> str:
    buffer = io.StringIO()
    # The byte order mark makes spreadsheets open the file as UTF-8; the upload accepts it.
    buffer.write("\ufeff")
    csv.writer(buffer, lineterminator="\r\n").writerows(template_rows())
    return buffer.getvalue()
