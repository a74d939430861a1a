"""What a request's page shows an approver: the kind and server, the before and after, the
pre-flight checks, and when VICIdial's database settles an unknown outcome."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from . import predicates
from .models import AliasRequest
from .preflight import preflight_checks
from .services.db_verification import verification_due_at
from .services.operations import vicidial_operation
from .services.vicidial_reads import servers_with_database
from .vicidial.servers import server_label

Kind = AliasRequest.Kind

# The button's words, by kind: what approving makes VICIdial do.
APPROVE_LABELS = {
    Kind.ADD: "Approve and create in VICIdial",
    Kind.CHANGE: "Approve and change in VICIdial",
    Kind.DISABLE: "Approve and remove from VICIdial",
    Kind.ENABLE: "Approve and create in VICIdial again",
}


@dataclass(frozen=True)
class Login:
    login: str
    marked: bool  # removed (in "before") or added (in "after")


@dataclass(frozen=True)
class Diff:
    name_before: str
    name_after: str
    logins_before: list[Login]
    logins_after: list[Login]
    removes_alias: bool  # a disable: the alias leaves VICIdial

    @property
    def name_changes(self) -> bool:
        return not self.removes_alias and self.name_before != self.name_after


@dataclass(frozen=True)
class DatabaseCheck:
    due_at: datetime

    @property
    def is_due(self) -> bool:
        return timezone.now() >= self.due_at


def request_diff(alias_request: AliasRequest) -> Diff | None:
    """Before and after, for a change or a disable (an add or an enable starts from nothing
    in VICIdial)."""
    if alias_request.kind not in (Kind.CHANGE, Kind.DISABLE):
        return None
    before = list(alias_request.previous_logins)
    removes = alias_request.kind == Kind.DISABLE
    after = [] if removes else alias_request.logins_in_order()
    # VICIdial compares logins without regard to case, so the diff does too.
    before_keys = {login.lower() for login in before}
    after_keys = {login.lower() for login in after}
    return Diff(
        name_before=alias_request.previous_name,
        name_after="" if removes else alias_request.alias_name,
        logins_before=[Login(x, x.lower() not in after_keys) for x in before],
        logins_after=[Login(x, x.lower() not in before_keys) for x in after],
        removes_alias=removes,
    )


def database_check(alias_request: AliasRequest) -> DatabaseCheck | None:
    """When VICIdial's database will settle the request, if it waits for one."""
    if alias_request.status != AliasRequest.Status.NEEDS_VERIFICATION:
        return None
    if alias_request.server not in servers_with_database():
        return None
    return DatabaseCheck(due_at=verification_due_at(alias_request))


def request_review(*, alias_request: AliasRequest, user: AbstractBaseUser) -> dict[str, Any]:
    """The request page's context for the approver's view."""
    offers = predicates.offers(user, alias_request)
    return {
        "server_label": server_label(alias_request.server),
        "diff": request_diff(alias_request),
        "operation_function": vicidial_operation(alias_request).function,
        "approve_label": APPROVE_LABELS[Kind(alias_request.kind)],
        # Only beside the approve button: the checks may read VICIdial's database.
        "preflight": preflight_checks(alias_request) if offers["can_decide"] else [],
        "database_check": database_check(alias_request),
        "can_verify_database": predicates.is_decider.test(user),
        "can_view_alias": (
            alias_request.alias_record_id is not None and predicates.may_view_inventory.test(user)
        ),
    }
