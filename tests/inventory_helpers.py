"""Aliases in the inventory, put there the way the portal puts them: a request approved by an
admin and carried out against the simulated VICIdial (or, for list pages, adopted rows)."""

import html
import re

from aliases import services
from aliases.models import Alias, AliasRequest
from aliases.services.inventory import alias_set_logins

from .base import submit


def approved(alias_request: AliasRequest, admin) -> AliasRequest:
    return services.alias_request_approve(request_id=alias_request.pk, actor=admin)


def created_alias(
    users, alias_id: str = "sales_desk", logins: str = "1001,1002", name: str = "Sales desk"
) -> Alias:
    """Created in the simulator through an add that an admin approved."""
    done = approved(
        submit(users["supervisor"], alias_id=alias_id, alias_name=name, logins=logins),
        users["admin"],
    )
    assert done.get_status_display() == "Created in VICIdial", done.outcome_reason
    return Alias.objects.get(pk=done.alias_record_id)


def disabled_alias(users, **kwargs) -> Alias:
    alias = created_alias(users, **kwargs)
    done = approved(
        services.alias_disable_submit(
            requester=users["supervisor"], alias_pk=alias.pk, justification="Team left."
        ),
        users["admin"],
    )
    assert done.get_status_display() == "Disabled: removed from VICIdial", done.outcome_reason
    alias.refresh_from_db()
    return alias


def adopted_alias(
    alias_id: str,
    logins: list[str],
    *,
    server: str = "default",
    state: str = Alias.State.ACTIVE,
    name: str = "Adopted one",
) -> Alias:
    """A row as an adoption leaves it, without VICIdial: for pages that only read."""
    alias = Alias.objects.create(
        server=server, alias_id=alias_id, alias_name=name, state=state, origin="adopted"
    )
    alias_set_logins(alias, logins)
    return alias


def text_of(response) -> str:
    """The page's text as a person reads it: tags dropped, entities decoded, spaces folded."""
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", html.unescape(body))
