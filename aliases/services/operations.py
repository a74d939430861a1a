"""What each kind of request sends to VICIdial, and what VICIdial's answer means for it.

One table for the call path, the pre-flight preview and the retry rules, so an add, a
change, a disable and an enable differ only here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..models import AliasRequest

Kind = AliasRequest.Kind

ALREADY_EXISTS = "PHONE ALIAS ALREADY EXISTS"
DOES_NOT_EXIST = "PHONE ALIAS DOES NOT EXIST"
NO_DELETE_RIGHT = "USER DOES NOT HAVE PERMISSION TO DELETE PHONE ALIASES"


@dataclass(frozen=True)
class Operation:
    """A call of one client method (`function`) with these keyword arguments."""

    function: str
    arguments: dict[str, Any]


def vicidial_operation(alias_request: AliasRequest) -> Operation:
    """The function and its arguments (without credentials or source) for the request."""
    alias_id = alias_request.alias_id
    logins = alias_request.logins_in_order()
    kind = alias_request.kind
    if kind in (Kind.ADD, Kind.ENABLE):
        # VICIdial has no active flag: enabling creates the alias again from the inventory.
        arguments = {"alias_name": alias_request.alias_name, "phone_logins": logins}
        return Operation("add_phone_alias", {"alias_id": alias_id, **arguments})
    if kind == Kind.DISABLE:
        # Delete takes only the alias ID and the flag.
        return Operation("update_phone_alias", {"alias_id": alias_id, "delete": True})
    # A change sends only what changes: update leaves every field it is not sent alone.
    arguments = {"alias_id": alias_id}
    if alias_request.name_changes:
        arguments["alias_name"] = alias_request.alias_name
    if alias_request.logins_change:
        arguments["phone_logins"] = logins
    return Operation("update_phone_alias", arguments)


def operation_call(client, operation: Operation, *, reference: str, deadline: float | None):
    """Make the operation's call through the client's method of that name."""
    method = getattr(client, operation.function)
    return method(**operation.arguments, reference=reference, deadline=deadline)


def refusal_explained(alias_request: AliasRequest, reason: str) -> str:
    """What a refusal means for this kind of request, and what to do next."""
    kind = alias_request.kind
    alias = f"{alias_request.alias_id!r}"
    if NO_DELETE_RIGHT in reason:
        return (
            f"VICIdial did nothing: its API user may not delete phone aliases ({reason}). "
            'Give that user "Delete Phones" (ast_delete_phones) in VICIdial, then ask again.'
        )
    if kind == Kind.ENABLE and ALREADY_EXISTS in reason:
        return (
            f"VICIdial already holds alias {alias}, so it was not created again: the portal "
            f"and VICIdial disagree (drift). Nothing was changed ({reason}). If it should not "
            "ring, ask to disable it again, which removes it from VICIdial; the drift page "
            "compares the two where VICIdial's database is readable."
        )
    if kind == Kind.CHANGE and DOES_NOT_EXIST in reason:
        return (
            f"VICIdial does not hold alias {alias} although the portal lists it: the two "
            f"disagree (drift). Nothing was changed ({reason}). Ask to enable it to create it "
            "in VICIdial again; the drift page compares the two where VICIdial's database is "
            "readable."
        )
    return reason


def already_gone(alias_request: AliasRequest, reason: str, data: Sequence[str]) -> bool:
    """A first disable that VICIdial answers DOES NOT EXIST for this very alias ID: the alias
    is not in VICIdial, which is all a disable asks for (VICIdial has no other "disabled").
    The echoed ID must be the one sent: VICIdial silently drops characters it does not keep,
    so an ID it changed says nothing about the alias the portal lists."""
    echoed = data[-1] if data else ""
    return (
        alias_request.kind == Kind.DISABLE
        and DOES_NOT_EXIST in reason
        and echoed.lower() == alias_request.alias_id.lower()
    )


def probable_earlier_success(alias_request: AliasRequest, reason: str) -> bool:
    """On a retry after an unknown outcome: does this refusal mean the first call worked?"""
    if alias_request.kind in (Kind.ADD, Kind.ENABLE):
        return ALREADY_EXISTS in reason
    if alias_request.kind == Kind.DISABLE:
        return DOES_NOT_EXIST in reason
    return False
