"""Drift: where the inventory and VICIdial's own database disagree, and the request that
would bring them back in step.

VICIdial is read through the read-only account (phones_alias and phones); nothing is sent
to it. Each disagreement is one row, with one fix: a request that goes through approval like
any other (or an adoption, which only records what VICIdial already holds).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from ..audit import AuditContext, EventType, record
from ..models import Alias, AliasLogin, AliasRequest
from ..predicates import may_check_drift
from ..vicidial.servers import server_label
from ..vicidial_db import VicidialAliasRow, fetch_aliases, fetch_phone_logins
from .adopt import AUDITED_ALIAS_IDS_CAP
from .extensions import AUDITED_LOGINS_CAP
from .inventory import live_requests_on_server
from .permissions import require
from .vicidial_reads import server_database


class DriftKind(models.TextChoices):
    ONLY_IN_VICIDIAL = "only_in_vicidial", "Only in VICIdial: not in the inventory"
    MISSING_IN_VICIDIAL = "missing_in_vicidial", "Active here, missing from VICIdial"
    DISABLED_BUT_PRESENT = "disabled_but_present", "Disabled here, still in VICIdial"
    NAME_DIFFERS = "name_differs", "Name differs"
    LOGINS_DIFFER = "logins_differ", "Phone logins differ"
    DEAD_LOGINS = "dead_logins", "Phone logins no phone has"


class FixKind(models.TextChoices):
    ADOPT = "adopt", "Adopt into the inventory"
    CHANGE = "change", "Ask to change it in VICIdial"
    DISABLE = "disable", "Ask to disable it (remove it from VICIdial)"
    ENABLE = "enable", "Ask to enable it (create it in VICIdial again)"


@dataclass(frozen=True)
class Fix:
    kind: str
    url: str

    @property
    def label(self) -> str:
        return FixKind(self.kind).label


@dataclass(frozen=True)
class DriftRow:
    kind: str
    server: str
    alias_id: str
    alias: Alias | None  # the inventory's row, if it has one
    vicidial: VicidialAliasRow | None  # VICIdial's row, if it has one
    dead_logins: list[str] = field(default_factory=list)
    fix: Fix | None = None
    # Why there is no fix, when there is none.
    hint: str = ""
    live_request: AliasRequest | None = None

    @property
    def kind_label(self) -> str:
        return DriftKind(self.kind).label

    @property
    def inventory_state(self) -> str:
        return self.alias.state if self.alias else ""

    @property
    def inventory_name(self) -> str:
        return self.alias.alias_name if self.alias else ""

    @property
    def inventory_logins(self) -> list[str]:
        return self.alias.logins_in_order() if self.alias else []

    @property
    def vicidial_name(self) -> str:
        return self.vicidial.alias_name if self.vicidial else ""

    @property
    def vicidial_logins(self) -> list[str]:
        return self.vicidial.logins if self.vicidial else []

    def _marked(self, logins: list[str]) -> list[tuple[str, bool]]:
        dead = _lowered(self.dead_logins)
        return [(login, login.lower() in dead) for login in logins]

    @property
    def inventory_logins_marked(self) -> list[tuple[str, bool]]:
        """(login, no phone has it), for pages."""
        return self._marked(self.inventory_logins)

    @property
    def vicidial_logins_marked(self) -> list[tuple[str, bool]]:
        return self._marked(self.vicidial_logins)


@dataclass
class DriftReport:
    server: str
    source: str
    checked_at: datetime
    rows: list[DriftRow] = field(default_factory=list)
    compared: int = 0  # alias IDs looked at, in either place

    @property
    def label(self) -> str:
        return server_label(self.server)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(DriftKind.values, 0)
        for row in self.rows:
            counts[row.kind] += 1
        return counts

    @property
    def in_step(self) -> bool:
        return not self.rows

    def by_kind(self) -> list[tuple[str, str, list[DriftRow]]]:
        """(kind, label, rows) for each kind that has rows, in DriftKind's order."""
        return [
            (kind, label, rows)
            for kind, label in DriftKind.choices
            if (rows := [row for row in self.rows if row.kind == kind])
        ]

    def summary(self) -> str:
        if self.in_step:
            return f"{self.label}: the inventory and VICIdial agree ({self.compared} aliases)."
        counted = ", ".join(
            f"{count} {DriftKind(kind).label.lower()}"
            for kind, count in self.counts.items()
            if count
        )
        return f"{self.label}: {len(self.rows)} differences ({counted})."


def _lowered(logins: list[str]) -> set[str]:
    # VICIdial matches logins without regard to case or order, and a login listed twice
    # rings its phone once: compared as sets.
    return {login.lower() for login in logins}


def _change_fix(alias: Alias, dead: set[str]) -> Fix:
    """A change to the inventory's values, without the logins no phone has; the change form
    reads VICIdial's row again and sends only what differs from it."""
    logins = [login for login in alias.logins_in_order() if login.lower() not in dead]
    query = urlencode(
        {"from_vicidial": "1", "alias_name": alias.alias_name, "phone_logins": ", ".join(logins)}
    )
    return Fix(FixKind.CHANGE, f"{reverse('aliases:alias_change', args=[alias.pk])}?{query}")


def _fix(kind: str, alias: Alias | None) -> Fix:
    if kind == FixKind.ADOPT:
        return Fix(FixKind.ADOPT, reverse("aliases:drift_adopt"))
    name = {FixKind.DISABLE: "aliases:alias_disable", FixKind.ENABLE: "aliases:alias_enable"}
    return Fix(kind, reverse(name[kind], args=[alias.pk]))


class _Comparison:
    def __init__(self, server: str, phones: set[str], live: dict[str, AliasRequest]) -> None:
        self.server = server
        self.phones = phones
        self.live = live
        self.rows: list[DriftRow] = []

    def add(self, kind: str, alias, vicidial, **details) -> None:
        alias_id = alias.alias_id if alias else vicidial.alias_id
        self.rows.append(
            DriftRow(
                kind=kind,
                server=self.server,
                alias_id=alias_id,
                alias=alias,
                vicidial=vicidial,
                live_request=self.live.get(alias_id.lower()),
                **details,
            )
        )

    def dead(self, logins: list[str]) -> list[str]:
        found: dict[str, str] = {}
        for login in logins:
            if login.lower() not in self.phones:
                found.setdefault(login.lower(), login)
        return list(found.values())

    def compare(self, alias: Alias | None, vicidial: VicidialAliasRow | None) -> None:
        if alias is None:
            self.add(DriftKind.ONLY_IN_VICIDIAL, None, vicidial, fix=_fix(FixKind.ADOPT, None))
            self._dead_logins(alias, vicidial, vicidial.logins, _fix(FixKind.ADOPT, None))
        elif not alias.is_active:
            if vicidial is not None:
                fix = _fix(FixKind.DISABLE, alias)
                self.add(DriftKind.DISABLED_BUT_PRESENT, alias, vicidial, fix=fix)
                self._dead_logins(alias, vicidial, vicidial.logins, fix)
        elif vicidial is None:
            self.add(DriftKind.MISSING_IN_VICIDIAL, alias, None, fix=_fix(FixKind.ENABLE, alias))
            self._dead_logins(
                alias,
                None,
                alias.logins_in_order(),
                None,
                hint="VICIdial refuses to create the alias again with a login no phone has: "
                "add the phone in VICIdial first.",
            )
        else:
            self._both_active(alias, vicidial)

    def _both_active(self, alias: Alias, vicidial: VicidialAliasRow) -> None:
        dead = self.dead(alias.logins_in_order() + vicidial.logins)
        dead_keys = _lowered(dead)
        remaining = [login for login in alias.logins_in_order() if login.lower() not in dead_keys]
        # With every login dead there is nothing left to change to: the alias rings no phone.
        change = _change_fix(alias, dead_keys) if remaining else _fix(FixKind.DISABLE, alias)
        if alias.alias_name != vicidial.alias_name:
            self.add(DriftKind.NAME_DIFFERS, alias, vicidial, fix=change)
        if _lowered(alias.logins_in_order()) != _lowered(vicidial.logins):
            self.add(DriftKind.LOGINS_DIFFER, alias, vicidial, fix=change)
        if dead:
            self.add(DriftKind.DEAD_LOGINS, alias, vicidial, dead_logins=dead, fix=change)

    def _dead_logins(self, alias, vicidial, logins: list[str], fix: Fix | None, hint="") -> None:
        dead = self.dead(logins)
        if dead:
            self.add(DriftKind.DEAD_LOGINS, alias, vicidial, dead_logins=dead, fix=fix, hint=hint)


def _inventory(server: str) -> dict[str, Alias]:
    aliases = Alias.objects.filter(server=server).prefetch_related(
        Prefetch("logins", queryset=AliasLogin.objects.order_by("position"))
    )
    return {alias.alias_id.lower(): alias for alias in aliases}


def drift_compare(*, server: str) -> DriftReport:
    """Compare the server's inventory with VICIdial's phones_alias and phones."""
    target = server_database(server)
    vicidial = {row.alias_id.lower(): row for row in fetch_aliases(target)}
    phones = fetch_phone_logins(target)
    inventory = _inventory(server)
    comparison = _Comparison(server, phones, live_requests_on_server(server))
    keys = sorted(vicidial.keys() | inventory.keys())
    for key in keys:
        comparison.compare(inventory.get(key), vicidial.get(key))
    order = {kind: index for index, kind in enumerate(DriftKind.values)}
    rows = sorted(comparison.rows, key=lambda row: (order[row.kind], row.alias_id.lower()))
    return DriftReport(
        server=server,
        source=str(target),
        checked_at=timezone.now(),
        rows=rows,
        compared=len(keys),
    )


def drift_check(
    *,
    server: str,
    actor: AbstractBaseUser | None = None,
    context: AuditContext | None = None,
) -> DriftReport:
    """drift_compare, recorded: who compared which server, and what differed."""
    if actor is not None:
        require(actor, may_check_drift, "compare the inventory with VICIdial")
    report = drift_compare(server=server)
    alias_ids = {
        kind: [row.alias_id for row in rows][:AUDITED_ALIAS_IDS_CAP]
        for kind, _label, rows in report.by_kind()
    }
    dead = [login for row in report.rows for login in row.dead_logins]
    with transaction.atomic():
        record(
            event_type=EventType.DRIFT_CHECKED,
            actor=actor,
            context=context or AuditContext.system("manage.py reconcile_aliases"),
            extensions=dead[:AUDITED_LOGINS_CAP],
            outcome="in_step" if report.in_step else "drift",
            reason=f"Inventory compared with VICIdial server {report.summary()}",
            changes={
                "server": server,
                "source": report.source,
                "compared": report.compared,
                "counts": report.counts,
                "alias_ids": alias_ids,
            },
        )
    return report
