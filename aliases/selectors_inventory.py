"""Read-side queries of the alias inventory, and what VICIdial's own database says rings a
phone. Who may see a request is still decided by selectors.alias_requests_visible_to."""

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.db.models import F, Prefetch, Q, QuerySet
from django.views.decorators.debug import sensitive_variables

from .lookups import AnyOf
from .models import Alias, AliasLogin, AliasRequest
from .vicidial.servers import server_label, server_names, vicidial_server
from .vicidial_db import (
    VicidialAliasRow,
    VicidialDatabase,
    VicidialDatabaseError,
    fetch_aliases_ringing,
)


def _with_logins(queryset: QuerySet[Alias]) -> QuerySet[Alias]:
    return queryset.select_related("last_request").prefetch_related(
        Prefetch("logins", queryset=AliasLogin.objects.order_by("position"))
    )


def aliases_search(
    *, alias_id: str = "", login: str = "", server: str = "", state: str = ""
) -> QuerySet[Alias]:
    """The inventory, filtered: alias ID contains (any case), phone login exactly (any case,
    so 1001 never finds 10010)."""
    queryset = Alias.objects.all()
    if alias_id:
        queryset = queryset.filter(alias_id__icontains=alias_id.strip())
    if login:
        queryset = queryset.filter(
            pk__in=AliasLogin.objects.filter(login__lower=login.strip().lower()).values("alias_id")
        )
    if server:
        queryset = queryset.filter(server=server)
    if state:
        queryset = queryset.filter(state=state)
    return _with_logins(queryset)


def alias_by_pk(pk: int) -> QuerySet[Alias]:
    return _with_logins(Alias.objects.filter(pk=pk))


def _requests_of(alias: Alias) -> Q:
    # By server and alias ID, not only alias_record: an add that failed or was rejected
    # never got the inventory row, and is still this alias ID's history.
    return Q(server=alias.server, alias_id__lower=alias.alias_id.lower())


def alias_request_history(
    *, alias: Alias, visible: QuerySet[AliasRequest]
) -> QuerySet[AliasRequest]:
    """Every request for the alias that `visible` lets the user see, newest first."""
    return visible.filter(_requests_of(alias)).order_by("-created_at", "-id")


def live_requests_by_alias(aliases: list[Alias]) -> dict[int, AliasRequest]:
    """The open request (pending, calling or unsettled) of each alias that has one, in one
    query; the database allows at most one per server and alias ID."""
    if not aliases:
        return {}
    keys = Q()
    for alias in aliases:
        keys |= _requests_of(alias)
    live = AliasRequest.objects.filter(keys, status__in=AliasRequest.HOLDS_ALIAS_ID)
    by_key = {(row.server, row.alias_id.lower()): row for row in live}
    found = {}
    for alias in aliases:
        row = by_key.get((alias.server, alias.alias_id.lower()))
        if row is not None:
            found[alias.pk] = row
    return found


@dataclass(frozen=True, slots=True)
class AliasRinging:
    """An active inventory alias that rings a phone, as the extension page lists it."""

    pk: int
    alias_id: str
    alias_name: str
    server: str
    logins: list[str]


def aliases_ringing(*, login: str) -> list[AliasRinging]:
    """Active aliases of every server whose phone logins include `login` (any case), in the
    inventory's order, each with its logins in order.

    Rows, not models, and three queries, each through an index: the busiest phone is rung by
    hundreds of aliases (738 at the scale data set's 100%), whose models would cost more than
    the page; and joined to the aliases (by a join or a subquery), PostgreSQL scans the whole
    inventory (60,000 aliases) rather than look up those few hundred by their keys.
    """
    ringing = AliasLogin.objects.filter(login__lower=login.strip().lower())
    ids = list(ringing.order_by().values_list("alias_id", flat=True))
    if not ids:
        return []
    active = Alias.objects.filter(AnyOf(F("pk"), ids), state=Alias.State.ACTIVE)
    rows = list(active.values_list("pk", "alias_id", "alias_name", "server"))
    logins: dict[int, list[str]] = {row[0]: [] for row in rows}
    if logins:
        each_login = AliasLogin.objects.filter(AnyOf(F("alias_id"), list(logins)))
        for alias_pk, each in each_login.order_by("alias_id", "position").values_list(
            "alias_id", "login"
        ):
            logins[alias_pk].append(each)
    return [AliasRinging(*row, logins=logins[row[0]]) for row in rows]


@dataclass(frozen=True)
class VicidialAliasRinging:
    row: VicidialAliasRow
    # None: the inventory has no such alias on that server.
    listed: Alias | None
    # Whether the inventory's alias is active and lists this phone too.
    inventory_agrees: bool = False


@dataclass(frozen=True)
class ServerRinging:
    server: str
    label: str
    aliases: list[VicidialAliasRinging] = field(default_factory=list)
    error: str = ""


def _compared_with_inventory(
    server: str, rows: list[VicidialAliasRow], login: str
) -> list[VicidialAliasRinging]:
    keys = Q()
    for row in rows:
        keys |= Q(alias_id__iexact=row.alias_id)
    listed = {
        alias.alias_id.lower(): alias
        for alias in (
            Alias.objects.filter(keys, server=server).prefetch_related("logins") if rows else []
        )
    }
    compared = []
    for row in rows:
        alias = listed.get(row.alias_id.lower())
        rings = alias is not None and login.lower() in {
            each.lower() for each in alias.logins_in_order()
        }
        agrees = rings and alias.is_active
        compared.append(VicidialAliasRinging(row=row, listed=alias, inventory_agrees=agrees))
    return compared


@sensitive_variables("db_url")
def vicidial_aliases_ringing(*, login: str) -> list[ServerRinging]:
    """For each server with a database URL: the phones_alias rows whose logins_list holds
    `login` (VICIdial compares logins without regard to case), each with the inventory's row.

    A server that cannot be read gives its (password-free) error instead; a page shows it.
    """
    found = []
    for name in server_names():
        try:
            db_url = vicidial_server(name).db_url
        except ImproperlyConfigured:
            continue
        if not db_url:
            continue
        label = server_label(name)
        try:
            ringing = fetch_aliases_ringing(VicidialDatabase.from_url(db_url), login)
        except VicidialDatabaseError as error:
            found.append(ServerRinging(server=name, label=label, error=str(error)))
            continue
        found.append(
            ServerRinging(
                server=name, label=label, aliases=_compared_with_inventory(name, ringing, login)
            )
        )
    return found
