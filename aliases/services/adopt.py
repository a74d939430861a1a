"""Adoption: aliases VICIdial already holds become inventory rows, read from its database.

Only VICIdial's `phones_alias` is read (SELECT through the read-only account); nothing is
sent to VICIdial, so adopting needs no approval: it records what is already there.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..models import Alias, AliasLogin
from ..predicates import may_adopt
from ..vicidial.servers import server_label
from ..vicidial_db import VicidialAliasRow, fetch_aliases
from .extensions import AUDITED_LOGINS_CAP
from .inventory import live_requests_on_server
from .permissions import require
from .vicidial_reads import server_database

# One event lists the alias IDs it adopted; past this it would carry the whole table.
AUDITED_ALIAS_IDS_CAP = 500


@dataclass
class AdoptReport:
    server: str
    source: str
    adopted: list[str] = field(default_factory=list)
    already_listed: list[str] = field(default_factory=list)
    # Alias ID -> number of the open request that holds it; adopting would race that request.
    skipped_live_request: dict[str, int] = field(default_factory=dict)
    # Alias ID -> the logins listed more than once in VICIdial (kept once here).
    duplicate_logins: dict[str, list[str]] = field(default_factory=dict)
    # Asked for by `only`, but VICIdial's database has no such alias.
    not_in_vicidial: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "adopted": len(self.adopted),
            "already_listed": len(self.already_listed),
            "skipped_live_request": len(self.skipped_live_request),
            "with_duplicate_logins": len(self.duplicate_logins),
            "not_in_vicidial": len(self.not_in_vicidial),
        }

    def summary(self) -> str:
        parts = [f"{count} {COUNT_LABELS[name]}" for name, count in self.counts.items()]
        return f"{server_label(self.server)} ({self.source}): " + ", ".join(parts)


COUNT_LABELS = {
    "adopted": "adopted",
    "already_listed": "already in the inventory",
    "skipped_live_request": "skipped for an open request",
    "with_duplicate_logins": "with logins listed twice",
    "not_in_vicidial": "not in VICIdial",
}


def _unique_logins(row: VicidialAliasRow) -> tuple[list[str], list[str]]:
    """The row's logins once each (first spelling wins; VICIdial ignores case), and the
    ones it listed more than once."""
    kept: dict[str, str] = {}
    repeated: list[str] = []
    for login in row.logins:
        if login.lower() in kept:
            if login.lower() not in {each.lower() for each in repeated}:
                repeated.append(login)
        else:
            kept[login.lower()] = login
    return list(kept.values()), repeated


def _wanted(rows: list[VicidialAliasRow], only: Iterable[str] | None, report: AdoptReport):
    if only is None:
        return rows
    asked = {alias_id.lower(): alias_id for alias_id in only}
    held = {row.alias_id.lower() for row in rows}
    report.not_in_vicidial = sorted(
        (alias_id for key, alias_id in asked.items() if key not in held), key=str.lower
    )
    return [row for row in rows if row.alias_id.lower() in asked]


def _adopt_row(server: str, row: VicidialAliasRow, report: AdoptReport) -> None:
    logins, repeated = _unique_logins(row)
    now = timezone.now()
    try:
        # A savepoint each: another run (or an add's success) may insert the same alias ID
        # at the same moment, and the unique index then decides which one lists it.
        with transaction.atomic():
            alias = Alias.objects.create(
                server=server,
                alias_id=row.alias_id,
                alias_name=row.alias_name,
                state=Alias.State.ACTIVE,
                origin=Alias.Origin.ADOPTED,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        report.already_listed.append(row.alias_id)
        return
    AliasLogin.objects.bulk_create(
        AliasLogin(alias=alias, login=login, position=position)
        for position, login in enumerate(logins)
    )
    report.adopted.append(row.alias_id)
    report.logins.extend(logins)
    if repeated:
        report.duplicate_logins[row.alias_id] = repeated


def _capped(values: list[str], cap: int) -> tuple[list[str], dict[str, int]]:
    return values[:cap], ({"listed": cap} if len(values) > cap else {})


def _audit(report: AdoptReport, actor, context: AuditContext) -> None:
    alias_ids, ids_capped = _capped(report.adopted, AUDITED_ALIAS_IDS_CAP)
    logins, logins_capped = _capped(report.logins, AUDITED_LOGINS_CAP)
    changes = {
        "server": report.server,
        "source": report.source,
        **report.counts,
        "alias_ids": alias_ids,
        **({"alias_ids_listed": ids_capped["listed"]} if ids_capped else {}),
        **({"extensions_listed": logins_capped["listed"]} if logins_capped else {}),
        "skipped_live_request": dict(
            list(report.skipped_live_request.items())[:AUDITED_ALIAS_IDS_CAP]
        ),
        "duplicate_logins": dict(list(report.duplicate_logins.items())[:AUDITED_ALIAS_IDS_CAP]),
    }
    if report.not_in_vicidial:
        changes["not_in_vicidial"] = report.not_in_vicidial[:AUDITED_ALIAS_IDS_CAP]
    record(
        event_type=EventType.ALIASES_ADOPTED,
        actor=actor,
        context=context,
        extensions=logins,
        outcome="adopted" if report.adopted else "nothing_adopted",
        reason=f"Adoption from VICIdial server {report.summary()}",
        changes=changes,
    )


def aliases_adopt(
    *,
    server: str,
    actor: AbstractBaseUser | None = None,
    context: AuditContext | None = None,
    only: Iterable[str] | None = None,
) -> AdoptReport:
    """List in the inventory every alias VICIdial's database holds and the inventory lacks
    (alias IDs compared without regard to case), or only those of `only`.

    An alias ID with an open request is skipped: that request's outcome will list it.
    """
    if actor is not None:
        require(actor, may_adopt, "adopt aliases from VICIdial")
    target = server_database(server)
    rows = fetch_aliases(target)
    report = AdoptReport(server=server, source=str(target))
    rows = _wanted(rows, only, report)
    with transaction.atomic():
        listed = {
            alias_id.lower()
            for alias_id in Alias.objects.filter(server=server).values_list("alias_id", flat=True)
        }
        live = live_requests_on_server(server)
        for row in rows:
            key = row.alias_id.lower()
            if key in listed:
                report.already_listed.append(row.alias_id)
            elif key in live:
                report.skipped_live_request[row.alias_id] = live[key].pk
            else:
                _adopt_row(server, row, report)
                listed.add(key)
        _audit(report, actor, context or AuditContext.system("manage.py adopt_aliases"))
    return report
