"""The alias inventory follows VICIdial: only a request that succeeded changes it, in the
transaction of the request's final step and with its audit event (or an adoption, which
records VICIdial's own state). Lock order: the request row, then the alias row."""

from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from ..models import Alias, AliasLogin, AliasRequest

Kind = AliasRequest.Kind
State = Alias.State


def alias_lookup(server: str, alias_id: str) -> Alias | None:
    """The inventory's row for an alias ID on a server, ignoring case as VICIdial does."""
    return Alias.objects.filter(server=server, alias_id__iexact=alias_id).first()


def live_requests_on_server(server: str) -> dict[str, AliasRequest]:
    """The open request (pending, calling or unsettled) of each alias ID on the server, by
    lower-cased alias ID: the database allows at most one per server and alias ID."""
    live = AliasRequest.objects.filter(server=server, status__in=AliasRequest.HOLDS_ALIAS_ID)
    return {row.alias_id.lower(): row for row in live}


def alias_snapshot(alias: Alias | None) -> dict[str, Any]:
    if alias is None:
        return {"state": None, "alias_name": None, "phone_logins": None}
    return {
        "state": alias.state,
        "alias_name": alias.alias_name,
        "phone_logins": alias.logins_in_order(),
    }


def alias_set_logins(alias: Alias, logins: Sequence[str]) -> None:
    alias.logins.all().delete()
    AliasLogin.objects.bulk_create(
        AliasLogin(alias=alias, login=login, position=position)
        for position, login in enumerate(logins)
    )


def _locked_alias(alias_request: AliasRequest) -> Alias | None:
    rows = Alias.objects.select_for_update(no_key=True)
    if alias_request.alias_record_id:
        return rows.get(pk=alias_request.alias_record_id)
    # An add: the alias may have been adopted from VICIdial since the request was made.
    return rows.filter(server=alias_request.server, alias_id__iexact=alias_request.alias_id).first()


def inventory_apply(alias_request: AliasRequest) -> dict[str, Any]:
    """Make the inventory show what the succeeded request did in VICIdial; the before and
    after, for the audit event of the same step. Call it with the request row locked."""
    alias = _locked_alias(alias_request)
    before = alias_snapshot(alias)
    now = timezone.now()
    if alias is None:
        alias = Alias(
            server=alias_request.server,
            alias_id=alias_request.alias_id,
            origin=Alias.Origin.PORTAL,
            created_at=now,
        )
    alias.alias_name = alias_request.alias_name
    alias.state = State.DISABLED if alias_request.kind == Kind.DISABLE else State.ACTIVE
    alias.last_request = alias_request
    alias.updated_at = now
    alias.save()
    if alias_request.kind != Kind.DISABLE:
        alias_set_logins(alias, alias_request.logins_in_order())
    if alias_request.alias_record_id != alias.pk:
        alias_request.alias_record = alias
        alias_request.save(update_fields=["alias_record", "updated_at"])
    after = alias_snapshot(alias)
    return {
        "inventory": {
            "alias": alias.pk,
            **{key: [before[key], after[key]] for key in after if before[key] != after[key]},
        }
    }
