"""Asking for something: an add, or a change, disable or enable of an alias the inventory
holds. Each request is checked as VICIdial would check it, and the rules that hold across
kinds (one live request per alias, the inventory's state) are checked again as it is made."""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import (
    AliasAlreadyListed,
    DuplicateAliasId,
    DuplicateSubmission,
    InvalidTransition,
    NoVicidialDatabase,
)
from ..models import Alias, AliasRequest, Extension, RequestedLogin, VicidialCall
from ..predicates import may_submit
from ..validators import (
    LOGIN_MAX_LENGTH,
    parse_phone_logins,
    same_logins,
    validate_alias_id,
    validate_alias_name,
)
from ..vicidial.servers import DEFAULT_SERVER, server_label, server_names
from ..vicidial_db import VicidialAliasRow, fetch_alias
from .inventory import alias_lookup
from .notify import pending_digest_on_commit
from .operations import ALREADY_EXISTS, DOES_NOT_EXIST
from .permissions import require
from .vicidial_reads import server_database

Status = AliasRequest.Status
# How long VICIdial's answer to a request may stand in for its database in a drift fix.
ANSWER_EVIDENCE_MAX_AGE = timedelta(days=1)
Kind = AliasRequest.Kind


def _ensure_no_live_request(server: str, alias_id: str) -> None:
    holder = (
        AliasRequest.objects.filter(
            server=server,
            alias_id__lower=alias_id.lower(),
            status__in=AliasRequest.HOLDS_ALIAS_ID,
        )
        .order_by("created_at")
        .first()
    )
    if holder is not None:
        raise DuplicateAliasId(
            f"Alias ID {alias_id!r} on {server_label(server)} already has a live request: "
            f"#{holder.pk} ({holder.get_kind_display().lower()} {holder.alias_id}, "
            f"{holder.get_status_display().lower()}). Only one request per alias can be open "
            "at a time (VICIdial ignores letter case): wait for it, or cancel it."
        )


def _ensure_not_listed(server: str, alias_id: str) -> None:
    alias = alias_lookup(server, alias_id)
    if alias is not None:
        raise AliasAlreadyListed(
            f"The inventory already holds alias {alias.alias_id!r} on {server_label(server)} "
            f"({alias.get_state_display().lower()}). Open it to ask for a change"
            f"{' or to enable it' if not alias.is_active else ''} instead.",
            alias_pk=alias.pk,
        )


def _ensure_known_server(server: str) -> None:
    if server not in server_names():
        raise ValidationError(
            f"{server!r} is not one of the portal's VICIdial servers.", code="unknown_server"
        )


def _validated_logins(phone_logins: Sequence[str] | str) -> list[str]:
    if not isinstance(phone_logins, str):
        phone_logins = ",".join(phone_logins)
    return parse_phone_logins(phone_logins)


def _require_justification(justification: str) -> str:
    if not justification.strip():
        raise ValidationError("Say why the alias is needed.", code="required")
    return justification.strip()


def alias_request_submit(
    *,
    requester: AbstractBaseUser,
    alias_id: str,
    alias_name: str,
    phone_logins: Sequence[str] | str,
    justification: str,
    server: str = DEFAULT_SERVER,
    submission_token: UUID | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Ask for a new alias (add_phone_alias)."""
    require(requester, may_submit, "request phone aliases")
    _ensure_known_server(server)
    logins = _validated_logins(phone_logins)
    validate_alias_id(alias_id)
    validate_alias_name(alias_name)
    justification = _require_justification(justification)
    _ensure_token_unspent(submission_token, requester)
    _ensure_not_listed(server, alias_id)
    return _create_request(
        kind=Kind.ADD,
        server=server,
        alias_id=alias_id,
        alias_name=alias_name,
        logins=logins,
        requester=requester,
        justification=justification,
        submission_token=submission_token,
        context=context,
    )


def _listed_alias(alias_pk: int, *, state: str | None, doing: str) -> Alias:
    alias = Alias.objects.filter(pk=alias_pk).first()
    if alias is None:
        raise ValidationError("That alias is not in the inventory.", code="unknown_alias")
    if state is not None and alias.state != state:
        raise InvalidTransition(
            f"Alias {alias.alias_id!r} is {alias.get_state_display().lower()}; it cannot be "
            f"{doing}. Nothing was requested."
        )
    return alias


def alias_change_submit(
    *,
    requester: AbstractBaseUser,
    alias_pk: int,
    alias_name: str,
    phone_logins: Sequence[str] | str,
    justification: str,
    submission_token: UUID | None = None,
    context: AuditContext | None = None,
    from_vicidial: bool = False,
) -> AliasRequest:
    """Ask to change an active alias's name and/or phone logins (update_phone_alias).

    `from_vicidial` (a drift fix): the "before" is what VICIdial's database holds, read here,
    so the change sends whatever differs from VICIdial rather than from the inventory.
    """
    require(requester, may_submit, "request phone alias changes")
    alias = _listed_alias(alias_pk, state=Alias.State.ACTIVE, doing="changed")
    logins = _validated_logins(phone_logins)
    validate_alias_name(alias_name)
    justification = _require_justification(justification)
    if from_vicidial:
        held = _held_in_vicidial(alias)
        if held is None:
            raise InvalidTransition(
                f"VICIdial's database has no alias {alias.alias_id!r} on "
                f"{server_label(alias.server)}, so a change would fail there. Ask to enable "
                "it instead: that creates it in VICIdial again. Nothing was requested."
            )
        previous = (held.alias_name, held.logins)
        now_holds = "what VICIdial holds now"
    else:
        previous = (alias.alias_name, alias.logins_in_order())
        now_holds = "what the alias has now"
    if alias_name == previous[0] and same_logins(logins, previous[1]):
        raise ValidationError(
            f"Nothing would change: the name and the phone logins are {now_holds} "
            "(VICIdial ignores letter case and order in logins).",
            code="no_change",
        )
    _ensure_token_unspent(submission_token, requester)
    return _create_request(
        kind=Kind.CHANGE,
        alias=alias,
        alias_name=alias_name,
        logins=logins,
        requester=requester,
        justification=justification,
        submission_token=submission_token,
        context=context,
        previous=previous if from_vicidial else None,
    )


def _held_in_vicidial(alias: Alias) -> VicidialAliasRow | None:
    """VICIdial's own row of the alias, read through the server's read-only database."""
    return fetch_alias(server_database(alias.server), alias.alias_id)


def alias_disable_submit(
    *,
    requester: AbstractBaseUser,
    alias_pk: int,
    justification: str,
    submission_token: UUID | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Ask to take an alias out of service: deleted from VICIdial, kept in the inventory. A
    disabled alias qualifies too when VICIdial's database shows it present (drift: someone
    created it there again), and only then."""
    require(requester, may_submit, "request phone alias changes")
    alias = _listed_alias(alias_pk, state=None, doing="disabled")
    allowed_by = None
    if not alias.is_active:
        allowed_by = _ensure_vicidial_holds(alias, present=True, doing="disabled")
    justification = _require_justification(justification)
    _ensure_token_unspent(submission_token, requester)
    return _create_request(
        kind=Kind.DISABLE,
        alias=alias,
        alias_name=alias.alias_name,
        # A delete sends no logins; a login no phone can have (over 15 characters, kept from
        # an adoption) stays in the event's "before" only.
        logins=[login for login in alias.logins_in_order() if len(login) <= LOGIN_MAX_LENGTH],
        requester=requester,
        justification=justification,
        submission_token=submission_token,
        context=context,
        allowed_by=allowed_by,
    )


def alias_enable_submit(
    *,
    requester: AbstractBaseUser,
    alias_pk: int,
    justification: str,
    alias_name: str | None = None,
    phone_logins: Sequence[str] | str | None = None,
    submission_token: UUID | None = None,
    context: AuditContext | None = None,
) -> AliasRequest:
    """Ask to put a disabled alias back: created in VICIdial again, from what the inventory
    kept of it unless given another name or phones (a phone may be gone meanwhile), checked
    as an add is. An active alias qualifies too when VICIdial's database shows it missing
    (drift: someone deleted it there), and only then."""
    require(requester, may_submit, "request phone alias changes")
    alias = _listed_alias(alias_pk, state=None, doing="enabled")
    if alias_name is None:
        alias_name = alias.alias_name
    if phone_logins is None:
        phone_logins = alias.logins_in_order()
    logins = _validated_logins(phone_logins)
    validate_alias_name(alias_name)
    allowed_by = None
    if alias.is_active:
        allowed_by = _ensure_vicidial_holds(alias, present=False, doing="enabled")
    justification = _require_justification(justification)
    _ensure_token_unspent(submission_token, requester)
    return _create_request(
        kind=Kind.ENABLE,
        alias=alias,
        alias_name=alias_name,
        logins=logins,
        requester=requester,
        justification=justification,
        submission_token=submission_token,
        context=context,
        allowed_by=allowed_by,
    )


def _ensure_vicidial_holds(alias: Alias, *, present: bool, doing: str) -> dict | None:
    """A drift fix: the inventory's state says no, VICIdial must say yes: its database, or,
    where the portal cannot read one, VICIdial's own answer to this alias's last request."""
    state = alias.get_state_display().lower()
    shows = "present" if present else "missing"
    refused = (
        f"Alias {alias.alias_id!r} is {state}; it cannot be {doing} unless VICIdial shows it "
        f"{shows}"
    )
    try:
        held = _held_in_vicidial(alias)
    except NoVicidialDatabase as error:
        call = _answer_as_evidence(alias)
        if call is not None and _answer_shows(call) == present:
            return {"vicidial_call": call.pk, "answer": call.reason}
        raise InvalidTransition(
            f"{refused}: the portal cannot read its database ({error}), and VICIdial's answer "
            "to the alias's last request does not show it either. Nothing was requested."
        ) from None
    if (held is not None) != present:
        advice = (
            "ask for a change if it should ring other phones."
            if alias.is_active
            else "ask to enable it to have it back."
        )
        raise InvalidTransition(
            f"{refused}, and that database shows it {'missing' if present else 'present'}. "
            f"Nothing was requested; {advice}"
        )
    return {"vicidial_database": held.as_evidence() if held else None}


def _answer_shows(call: VicidialCall) -> bool | None:
    """Whether VICIdial's answer showed the alias present (ALREADY EXISTS), missing (DOES NOT
    EXIST), or neither (None)."""
    if ALREADY_EXISTS in call.reason:
        return True
    if DOES_NOT_EXIST in call.reason:
        return False
    return None


def _answer_as_evidence(alias: Alias) -> VicidialCall | None:
    """The call whose answer may stand in for VICIdial's database: the refusal that ended
    the alias's newest request, within a day, for this very alias ID. A request an admin or
    the database settled, an older one, or an answer about another ID says nothing."""
    last = alias.requests.order_by("-pk").first()
    if last is None or last.status != AliasRequest.Status.FAILED:
        return None
    if not last.completed_at or last.completed_at < timezone.now() - ANSWER_EVIDENCE_MAX_AGE:
        return None
    final_event = last.audit_events.order_by("-sequence").values_list("event_type", flat=True)
    if final_event.first() != EventType.REQUEST_FAILED:
        return None
    call = last.calls.order_by("-pk").first()
    if call is None or call.result != VicidialCall.Result.REJECTED:
        return None
    echoed = call.response_data[-1] if call.response_data else ""
    return call if echoed.lower() == alias.alias_id.lower() else None


def _ensure_inventory_unchanged(alias: Alias | None, *, server: str, alias_id: str) -> None:
    """Checked again under the alias's row lock: a request that settled since the checks
    above may have changed what this one starts from. An add takes no lock (there is no row
    yet): a concurrent add is stopped by the one-live-request index, an adoption by
    VICIdial's ALREADY EXISTS."""
    if alias is None:
        _ensure_not_listed(server, alias_id)
        return
    locked = Alias.objects.select_for_update(no_key=True).get(pk=alias.pk)
    if (locked.state, locked.updated_at) != (alias.state, alias.updated_at):
        raise InvalidTransition(
            f"Alias {alias.alias_id!r} changed while this request was being made (another "
            "request for it was settled). Nothing was requested: look at the alias again."
        )


def _create_request(
    *,
    kind: str,
    alias_name: str,
    logins: list[str],
    requester: AbstractBaseUser,
    justification: str,
    submission_token: UUID | None,
    context: AuditContext | None,
    alias: Alias | None = None,
    server: str = "",
    alias_id: str = "",
    previous: tuple[str, list[str]] | None = None,
    allowed_by: dict | None = None,
) -> AliasRequest:
    """`previous`: the name and logins the request starts from, when not the inventory's
    (a change made from what VICIdial's database holds)."""
    server = alias.server if alias else server
    alias_id = alias.alias_id if alias else alias_id
    if previous is not None:
        previous_name, previous_logins = previous[0], list(previous[1])
    else:
        previous_name = alias.alias_name if alias else ""
        previous_logins = alias.logins_in_order() if alias else []
    _ensure_no_live_request(server, alias_id)
    try:
        with transaction.atomic():
            _ensure_inventory_unchanged(alias, server=server, alias_id=alias_id)
            alias_request = AliasRequest.objects.create(
                server=server,
                kind=kind,
                alias_record=alias,
                alias_id=alias_id,
                alias_name=alias_name,
                previous_name=previous_name,
                previous_logins=previous_logins,
                justification=justification,
                requester=requester,
                submission_token=submission_token,
            )
            catalogue = _catalogue_entries(server, logins)
            RequestedLogin.objects.bulk_create(
                RequestedLogin(
                    request=alias_request,
                    login=login,
                    position=position,
                    extension=catalogue.get(login.lower()),
                )
                for position, login in enumerate(logins)
            )
            changes = {
                "status": [None, Status.PENDING],
                "kind": kind,
                "server": server,
                "alias_id": [None, alias_id],
                "alias_name": [previous_name or None, alias_name],
                "phone_logins": [previous_logins or None, list(logins)],
                # Hashed here: the request row can be edited, the event cannot.
                "justification": [None, alias_request.justification],
            }
            if previous is not None:
                changes["previous_from"] = "vicidial_database"
            if allowed_by is not None:
                # What let a drift fix through although the inventory's state said no.
                changes["allowed_by"] = allowed_by
            record(
                event_type=EventType.REQUEST_CREATED,
                actor=requester,
                context=context,
                request=alias_request,
                extensions=alias_request.logins_touched(),
                outcome=Status.PENDING,
                changes=changes,
            )
            pending_digest_on_commit()
    except IntegrityError:
        # Two submissions raced past the checks above; the unique indexes decided.
        _ensure_token_unspent(submission_token, requester)
        _ensure_no_live_request(server, alias_id)
        raise
    return alias_request


def _ensure_token_unspent(token: UUID | None, requester: AbstractBaseUser) -> None:
    if token is None:
        return
    earlier = AliasRequest.objects.filter(submission_token=token).first()
    if earlier is None:
        return
    if earlier.requester_id != requester.pk:
        raise PermissionDenied("This form was issued to someone else.")
    raise DuplicateSubmission(
        f"This form was already submitted as request #{earlier.pk}; nothing new was created.",
        request_id=earlier.pk,
    )


def _catalogue_entries(server: str, logins: Sequence[str]) -> dict[str, Extension]:
    lowered = [login.lower() for login in logins]
    entries = Extension.objects.filter(server=server, login__lower__in=lowered)
    return {entry.login.lower(): entry for entry in entries}
