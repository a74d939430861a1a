"""Keeping the extension catalogue in step with VICIdial's phones.

Two ways in: a CSV file kept by an admin, and a read-only look at VICIdial's own `phones`
table. Both match catalogue rows by login without regard to letter case, as VICIdial does.
"""

import csv
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote, unquote, urlsplit

import pymysql
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import PortalError
from ..models import Extension
from ..validators import LOGIN_CHARS

Protocol = Extension.Protocol
PROTOCOLS = {value.lower(): value for value in Protocol.values}
PROTOCOL_LIST = ", ".join(Protocol.values)

# One event names the logins it touched; past this it would carry the whole catalogue.
AUDITED_LOGINS_CAP = 500

REQUIRED_COLUMNS = ("login", "protocol")
OPTIONAL_COLUMNS = ("extension", "description", "server_ip", "known_to_vicidial")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}

VICIDIAL_DB_SCHEMES = {"mysql", "mariadb"}
VICIDIAL_DB_CONNECT_TIMEOUT = 5
VICIDIAL_DB_READ_TIMEOUT = 30


def _max_length(name: str) -> int:
    return Extension._meta.get_field(name).max_length


@dataclass
class RowError:
    row: int
    message: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    rows: int = 0

    @property
    def invalid_rows(self) -> int:
        return len({error.row for error in self.errors})

    @property
    def rejected(self) -> bool:
        """Errors kept every row out: all-or-nothing refused, or no row was valid."""
        return bool(self.errors) and not (self.created + self.updated + self.unchanged)


@dataclass
class SyncReport:
    source: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_unknown: int = 0
    warnings: list[str] = field(default_factory=list)
    written: bool = False


class VicidialDatabaseError(PortalError):
    pass


class _Invalid(ValueError):
    pass


def _describe_char(char: str) -> str:
    if char == " ":
        return "space"
    return f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"


def _login(text: str) -> str:
    if not text:
        raise _Invalid("login is empty")
    bad = sorted({char for char in text if not LOGIN_CHARS.fullmatch(char)}, key=text.index)
    if bad:
        listed = ", ".join(_describe_char(char) for char in bad)
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


def _read_csv(stream: TextIO) -> tuple[list[dict[str, Any]], list[RowError], int]:
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


def _upsert(
    wanted: Iterable[dict[str, Any]], existing: dict[str, Extension]
) -> tuple[list[Extension], list[Extension], int]:
    """Create or update one row per entry; returns (created, updated, unchanged count).

    Only the fields an entry names are compared and written: a column left out of a file
    leaves that field alone.
    """
    created, updated, unchanged, fields = [], [], 0, {"updated_at"}
    for values in wanted:
        current = existing.get(values["login"].lower())
        if current is None:
            created.append(Extension(**values))
            continue
        changed = [name for name, value in values.items() if getattr(current, name) != value]
        for name in changed:
            setattr(current, name, values[name])
        if changed:
            fields.update(changed)
            updated.append(current)
        else:
            unchanged += 1
    Extension.objects.bulk_create(created, batch_size=500)
    _save_changed(updated, fields)
    return created, updated, unchanged


def _save_changed(rows: list[Extension], fields: set[str]) -> None:
    now = timezone.now()
    for row in rows:
        # bulk_update skips auto_now.
        row.updated_at = now
    Extension.objects.bulk_update(rows, sorted(fields), batch_size=500)


def _catalogue_for_update() -> dict[str, Extension]:
    return {row.login.lower(): row for row in Extension.objects.select_for_update()}


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())


def _audit(
    *, touched: list[str], context: AuditContext, outcome: str, reason: str, changes: dict
) -> None:
    if len(touched) > AUDITED_LOGINS_CAP:
        changes["extensions_listed"] = AUDITED_LOGINS_CAP
    record(
        event_type=EventType.EXTENSIONS_IMPORTED,
        context=context,
        extensions=touched[:AUDITED_LOGINS_CAP],
        outcome=outcome,
        reason=reason,
        changes=changes,
    )


def extensions_import_csv(
    *,
    stream: TextIO,
    skip_invalid: bool = False,
    file_name: str = "",
    context: AuditContext | None = None,
) -> ImportReport:
    """Upsert the catalogue from CSV text; nothing is written if a row is invalid, unless
    `skip_invalid`, which writes the valid rows and reports the others."""
    valid, errors, data_rows = _read_csv(stream)
    report = ImportReport(errors=errors, rows=data_rows)
    if errors and not skip_invalid:
        return report
    with transaction.atomic():
        created, updated, report.unchanged = _upsert(valid, _catalogue_for_update())
        report.created, report.updated = len(created), len(updated)
        report.written = bool(created or updated)
        if report.written:
            counts = {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "skipped_rows": report.invalid_rows,
            }
            _audit(
                touched=[row.login for row in created + updated],
                context=context or AuditContext.system("manage.py import_extensions"),
                outcome="imported",
                reason=f"CSV import {file_name or '(unnamed stream)'}: {_counted(counts)}",
                changes={"source": "csv", **({"file": file_name} if file_name else {}), **counts},
            )
    return report


@dataclass(frozen=True)
class VicidialDatabase:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> "VicidialDatabase":
        shape = "mysql://user:password@host:3306/asterisk"
        try:
            parts = urlsplit(url)
            port = parts.port or 3306
        except ValueError:
            raise VicidialDatabaseError(
                f"The VICIdial database URL must look like {shape}."
            ) from None
        database = unquote(parts.path.lstrip("/"))
        if parts.scheme not in VICIDIAL_DB_SCHEMES or not parts.hostname or not database:
            raise VicidialDatabaseError(f"The VICIdial database URL must look like {shape}.")
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=database,
        )

    def __str__(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"

    def scrub(self, text: str) -> str:
        """Remove the password from text that might echo it (driver errors, URLs)."""
        if not self.password:
            return text
        for form in sorted({self.password, quote(self.password, safe="")}, key=len, reverse=True):
            text = text.replace(form, "***")
        return text


def _fetch_phones(target: VicidialDatabase) -> list[tuple[str, str, str, str]]:
    try:
        connection = pymysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            database=target.database,
            charset="utf8mb4",
            connect_timeout=VICIDIAL_DB_CONNECT_TIMEOUT,
            read_timeout=VICIDIAL_DB_READ_TIMEOUT,
        )
        try:
            with connection.cursor() as cursor:
                # A single SELECT: the account needs no privilege beyond SELECT on phones.
                cursor.execute(
                    "SELECT login, extension, protocol, server_ip FROM phones "
                    "ORDER BY login, extension, server_ip"
                )
                return [tuple("" if v is None else str(v) for v in row) for row in cursor]
        finally:
            connection.close()
    except (pymysql.MySQLError, OSError) as error:
        detail = error.args[1] if len(error.args) == 2 else str(error)
        # `from None`: the driver's exception is not shown, so nothing it held can leak.
        raise VicidialDatabaseError(
            target.scrub(f"Cannot read phones from {target}: {detail}")
        ) from None


def _phones_to_catalogue(
    phones: list[tuple[str, str, str, str]], report: SyncReport
) -> list[dict[str, Any]]:
    wanted: dict[str, dict[str, Any]] = {}
    for login, extension, protocol, server_ip in phones:
        if not login or len(login) > _max_length("login"):
            report.warnings.append(
                f"phone {extension}@{server_ip} has login {login!r}, which the catalogue "
                f"cannot hold (1 to {_max_length('login')} characters); skipped"
            )
        elif protocol not in Protocol.values:
            report.warnings.append(f"login {login!r} has unknown protocol {protocol!r}; skipped")
        elif login.lower() in wanted:
            kept = wanted[login.lower()]
            report.warnings.append(
                f"login {login!r} is on more than one phone in VICIdial; "
                f"kept {kept['extension']}@{kept['server_ip']}, skipped {extension}@{server_ip}"
            )
        else:
            wanted[login.lower()] = {
                "login": login,
                "extension": extension,
                "protocol": protocol,
                "server_ip": server_ip,
                "known_to_vicidial": True,
            }
    return list(wanted.values())


def extensions_sync_from_vicidial(
    *, db_url: str, context: AuditContext | None = None
) -> SyncReport:
    """Mirror VICIdial's `phones` into the catalogue, reading VICIdial and never writing to it.

    Logins gone from VICIdial stay in the catalogue, marked unknown: history points at them.
    """
    target = VicidialDatabase.from_url(db_url)
    phones = _fetch_phones(target)
    report = SyncReport(source=str(target))
    in_vicidial = {login.lower() for login, *_ in phones if login}
    with transaction.atomic():
        catalogue = _catalogue_for_update()
        created, updated, report.unchanged = _upsert(
            _phones_to_catalogue(phones, report), catalogue
        )
        gone = [
            row
            for key, row in catalogue.items()
            if key not in in_vicidial and row.known_to_vicidial
        ]
        for row in gone:
            row.known_to_vicidial = False
        _save_changed(gone, {"known_to_vicidial", "updated_at"})
        report.created, report.updated, report.marked_unknown = (
            len(created),
            len(updated),
            len(gone),
        )
        report.written = bool(created or updated or gone)
        if report.written:
            counts = {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "marked_unknown": report.marked_unknown,
            }
            _audit(
                touched=[row.login for row in created + updated + gone],
                context=context or AuditContext.system("manage.py sync_extensions"),
                outcome="synced",
                reason=f"VICIdial sync from {target}: {_counted(counts)}",
                changes={"source": str(target), "skipped_phones": len(report.warnings), **counts},
            )
    return report
