"""Parsing and checking an extension catalogue CSV, before the import writes anything.

Logins are held to the characters VICIdial keeps, with the same rule the portal's forms use
(validators.py), and are compared without regard to letter case, as VICIdial compares them.
"""

import csv
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ..models import Extension
from ..validators import LOGIN_CHARS, describe_character

PROTOCOLS = {value.lower(): value for value in Extension.Protocol.values}
PROTOCOL_LIST = ", ".join(Extension.Protocol.values)

REQUIRED_COLUMNS = ("login", "protocol")
OPTIONAL_COLUMNS = ("extension", "description", "server_ip", "known_to_vicidial")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}


def _max_length(name: str) -> int:
    return Extension._meta.get_field(name).max_length


@dataclass
class RowError:
    row: int
    message: str


class _Invalid(ValueError):
    pass


def _login(text: str) -> str:
    if not text:
        raise _Invalid("login is empty")
    bad = sorted({char for char in text if not LOGIN_CHARS.fullmatch(char)}, key=text.index)
    if bad:
        listed = ", ".join(describe_character(char) for char in bad)
        raise _Invalid(
            f"login {text!r} contains characters VICIdial would silently delete: {listed}"
        )
    if len(text) > _max_length("login"):
        raise _Invalid(
            f"login {text!r} is {len(text)} characters long; "
            f"VICIdial keeps at most {_max_length('login')}"
        )
    return text


def _protocol(text: str) -> str:
    try:
        return PROTOCOLS[text.lower()]
    except KeyError:
        given = f"protocol {text!r} is not" if text else "protocol is empty; it must be"
        raise _Invalid(f"{given} one of {PROTOCOL_LIST}") from None


def _server_ip(text: str) -> str:
    if not text:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _Invalid(f"server_ip {text!r} is not an IPv4 or IPv6 address") from None


def _known_to_vicidial(text: str) -> bool:
    word = text.lower()
    if word in YES or word in NO:
        return word in YES
    raise _Invalid(
        f"known_to_vicidial {text!r} is not yes or no "
        "(also accepted: y/n, true/false, 1/0; blank means no)"
    )


def _free_text(name: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > _max_length(name):
            raise _Invalid(f"{name} is {len(text)} characters long; at most {_max_length(name)}")
        return text

    return parse


PARSERS: dict[str, Callable[[str], Any]] = {
    "login": _login,
    "protocol": _protocol,
    "extension": _free_text("extension"),
    "description": _free_text("description"),
    "server_ip": _server_ip,
    "known_to_vicidial": _known_to_vicidial,
}


def _header_problem(names: list[str]) -> str:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    problems = [f"missing column {name}" for name in REQUIRED_COLUMNS if name not in names]
    problems += [f"unknown column {name!r}" for name in names if name and name not in known]
    problems += [f"column {name} appears twice" for name in known if names.count(name) > 1]
    if not problems:
        return ""
    message = (
        f"the header row must name the columns {', '.join(REQUIRED_COLUMNS)} "
        f"(optional: {', '.join(OPTIONAL_COLUMNS)}): {'; '.join(problems)}"
    )
    if len(names) == 1 and ";" in names[0]:
        message += "; the file seems to use ';' between columns: save it as CSV with commas"
    return message


def _parse_row(cells: list[str], columns: dict[str, int]) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    named = set(columns.values())
    problems = [
        f"column {index + 1} has a value but no header"
        for index, cell in enumerate(cells)
        if cell and index not in named
    ]
    for name, index in columns.items():
        try:
            values[name] = PARSERS[name](cells[index] if index < len(cells) else "")
        except _Invalid as invalid:
            problems.append(str(invalid))
    return values, problems


def read_csv(stream: TextIO) -> tuple[list[dict[str, Any]], list[RowError], int]:
    """The valid rows, every error, and how many data rows there were.

    Row numbers count records, as a spreadsheet numbers its rows: a quoted line break stays
    in its row, and a blank line is a row of its own.
    """
    lines: list[list[str]] = []
    try:
        for cells in csv.reader(stream):
            lines.append([cell.strip() for cell in cells])
    except csv.Error as error:
        return [], [RowError(len(lines) + 1, f"the file cannot be read as CSV: {error}")], 0
    if not lines:
        return [], [RowError(1, "the file is empty; the first row must be a header")], 0
    header, records = lines[0], list(enumerate(lines[1:], start=2))

    names = [name.lstrip("\ufeff").strip().lower() for name in header]
    problem = _header_problem(names)
    if problem:
        return [], [RowError(1, problem)], 0
    columns = {name: index for index, name in enumerate(names) if name}

    valid, errors, first_row_of = [], [], {}
    data_rows = [(number, cells) for number, cells in records if any(cells)]
    for number, cells in data_rows:
        values, problems = _parse_row(cells, columns)
        login = cells[columns["login"]] if columns["login"] < len(cells) else ""
        if login:
            earlier = first_row_of.setdefault(login.lower(), number)
            if earlier != number:
                problems.append(
                    f"login {login!r} is already on row {earlier} "
                    "(VICIdial compares logins without regard to letter case)"
                )
        errors.extend(RowError(number, message) for message in problems)
        if not problems:
            valid.append(values)
    return valid, errors, len(data_rows)
