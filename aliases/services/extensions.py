"""Keeping the extension catalogue in step with VICIdial's phones.

Two ways in: a CSV file kept by an admin (parsed in extension_csv.py), and a read-only look at
VICIdial's own `phones` table (vicidial_db.py). Each VICIdial server has a catalogue of its
own: both ways write one server's rows and never touch another's. Rows are matched by login
without regard to letter case, as VICIdial does.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ..audit import AuditContext, EventType, record
from ..models import Extension
from ..vicidial.servers import (
    DEFAULT_SERVER,
    UnknownServer,
    server_label,
    server_names,
    setting_name,
    vicidial_server,
)
from ..vicidial_db import Phone, VicidialDatabase, VicidialDatabaseError, fetch_phones
from .extension_csv import RowError, read_csv

# One event names the logins it touched; past this it would carry the whole catalogue.
AUDITED_LOGINS_CAP = 500


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
    server: str = DEFAULT_SERVER
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_unknown: int = 0
    warnings: list[str] = field(default_factory=list)
    written: bool = False


def _upsert(
    wanted: Iterable[dict[str, Any]], existing: dict[str, Extension], *, server: str
) -> tuple[list[Extension], list[Extension], int]:
    """Create or update one row per entry; returns (created, updated, unchanged count).

    Only the fields an entry names are compared and written: a column left out of a file
    leaves that field alone.
    """
    created, updated, unchanged, fields = [], [], 0, {"updated_at"}
    for values in wanted:
        current = existing.get(values["login"].lower())
        if current is None:
            created.append(Extension(server=server, **values))
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


def _catalogue_for_update(server: str) -> dict[str, Extension]:
    rows = Extension.objects.select_for_update().filter(server=server)
    return {row.login.lower(): row for row in rows}


def _configured(server: str) -> str:
    if server not in server_names():
        raise UnknownServer(f"No VICIdial server is configured under the name {server!r}.")
    return server


def _named(server: str) -> str:
    """How audit reasons name a server: its label, and its name when they differ."""
    label = server_label(server)
    return label if label == server else f"{label} ({server})"


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())


def _audit(
    *,
    event_type: str,
    touched: list[str],
    context: AuditContext,
    outcome: str,
    reason: str,
    changes: dict,
) -> None:
    if len(touched) > AUDITED_LOGINS_CAP:
        changes["extensions_listed"] = AUDITED_LOGINS_CAP
    record(
        event_type=event_type,
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
    server: str = DEFAULT_SERVER,
) -> ImportReport:
    """Upsert the server's catalogue from CSV text; nothing is written if a row is invalid,
    unless `skip_invalid`, which writes the valid rows and reports the others."""
    _configured(server)
    valid, errors, data_rows = read_csv(stream)
    report = ImportReport(errors=errors, rows=data_rows)
    if errors and not skip_invalid:
        return report
    with transaction.atomic():
        created, updated, report.unchanged = _upsert(
            valid, _catalogue_for_update(server), server=server
        )
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
                event_type=EventType.EXTENSIONS_IMPORTED,
                touched=[row.login for row in created + updated],
                context=context or AuditContext.system("manage.py import_extensions"),
                outcome="imported",
                reason=f"CSV import {file_name or '(unnamed stream)'} into the catalogue of "
                f"{_named(server)}: {_counted(counts)}",
                changes={
                    "source": "csv",
                    "server": server,
                    **({"file": file_name} if file_name else {}),
                    **counts,
                },
            )
    return report


def _phones_to_catalogue(phones: list[Phone], report: SyncReport) -> list[dict[str, Any]]:
    wanted: dict[str, dict[str, Any]] = {}
    longest_login = Extension._meta.get_field("login").max_length
    for login, extension, protocol, server_ip in phones:
        if not login or len(login) > longest_login:
            report.warnings.append(
                f"phone {extension}@{server_ip} has login {login!r}, which the catalogue "
                f"cannot hold (1 to {longest_login} characters); skipped"
            )
        elif protocol not in Extension.Protocol.values:
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


@sensitive_variables("db_url")
def extensions_sync_from_vicidial(
    *, db_url: str = "", server: str = DEFAULT_SERVER, context: AuditContext | None = None
) -> SyncReport:
    """Mirror one server's `phones` into its catalogue, reading VICIdial, never writing to it.

    `db_url` defaults to the server's configured database. Logins gone from VICIdial stay in
    the catalogue, marked unknown: history points at them.
    """
    _configured(server)
    db_url = db_url or vicidial_server(server).db_url
    if not db_url:
        raise VicidialDatabaseError(
            f"No database is configured for the VICIdial server {server!r}: "
            f"set {setting_name(server, 'DB_URL')} or pass a database URL."
        )
    target = VicidialDatabase.from_url(db_url)
    phones = fetch_phones(target)
    report = SyncReport(source=str(target), server=server)
    in_vicidial = {login.lower() for login, *_ in phones if login}
    with transaction.atomic():
        catalogue = _catalogue_for_update(server)
        created, updated, report.unchanged = _upsert(
            _phones_to_catalogue(phones, report), catalogue, server=server
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
                event_type=EventType.EXTENSIONS_SYNCED,
                touched=[row.login for row in created + updated + gone],
                context=context or AuditContext.system("manage.py sync_extensions"),
                outcome="synced",
                reason=f"VICIdial sync of {_named(server)} from {target}: {_counted(counts)}",
                changes={
                    "source": str(target),
                    "server": server,
                    "skipped_phones": len(report.warnings),
                    **counts,
                },
            )
    return report
