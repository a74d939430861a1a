"""What an approver checks before a pending request is carried out: a read, cheap enough for
every view of the request's page. A failing check warns; it never blocks the approval (the
approver may know better, and VICIdial's own answer is final anyway)."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from .models import AliasRequest, Extension
from .services.circuit import vicidial_calls_stopped_reason
from .services.db_verification import describe_row, row_matches, vicidial_database
from .services.operations import vicidial_operation
from .vicidial import VicidialClient
from .vicidial.servers import server_label
from .vicidial_db import PAGE_READ_TIMEOUT, VicidialDatabaseError, fetch_alias

Kind = AliasRequest.Kind
SHOWN_SALT = "aliases.preflight.shown"
# A page left open longer than this is too old to say what its approver saw.
SHOWN_MAX_AGE = timedelta(hours=1)
# The check that says whether calls to the server are stopped, which stops an approval too.
CIRCUIT_CHECK = "circuit"


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    ok: bool
    detail: str
    # For the parameters check: the fields that will be sent, the password masked.
    fields: tuple[tuple[str, str], ...] = ()

    def as_record(self) -> dict[str, Any]:
        """For the approval's audit event."""
        record = {"check": self.key, "ok": self.ok, "detail": self.detail}
        if self.fields:
            record["fields"] = [list(pair) for pair in self.fields]
        return record


def preflight_checks(alias_request: AliasRequest) -> list[Check]:
    checks = []
    if alias_request.kind != Kind.DISABLE:  # a delete sends no phone logins
        checks += _catalogue_checks(alias_request)
    database_check = _database_check(alias_request)
    if database_check is not None:
        checks.append(database_check)
    checks.append(_circuit_check(alias_request))
    checks.append(_parameters_check(alias_request))
    return checks


def _catalogue_checks(alias_request: AliasRequest) -> list[Check]:
    server = alias_request.server
    logins = alias_request.logins_in_order()
    catalogue = {
        entry.login.lower(): entry
        for entry in Extension.objects.filter(
            server=server, login__lower__in=[login.lower() for login in logins]
        )
    }
    checks = []
    for login in logins:
        entry = catalogue.get(login.lower())
        if entry is None:
            detail = (
                f"Not in the phone catalogue of {server_label(server)}: unless VICIdial has "
                "the phone, it refuses the call (PHONE DOES NOT EXIST). Check the login."
            )
        else:
            detail = f"{entry.protocol} phone, extension {entry.extension or '–'}"
        checks.append(
            Check(
                key=f"phone:{login}",
                label=f"Phone {login} is in the catalogue",
                ok=entry is not None,
                detail=detail,
            )
        )
    return checks


def _database_check(alias_request: AliasRequest) -> Check | None:
    """What VICIdial holds for the alias now, where the portal can read its database."""
    alias_id = alias_request.alias_id
    adds = alias_request.kind in (Kind.ADD, Kind.ENABLE)
    label = (
        f"Alias ID {alias_id} is free in VICIdial"
        if adds
        else f"VICIdial holds {alias_id} as the inventory does"
    )
    try:
        target = vicidial_database(alias_request.server)
        if target is None:
            return None
        row = fetch_alias(target, alias_id, timeout=PAGE_READ_TIMEOUT)
    except VicidialDatabaseError as error:  # its text has the password scrubbed
        return Check("database", label, False, f"VICIdial's database could not be read: {error}")
    found = describe_row(alias_id, row)
    if adds:
        ok = row is None
        consequence = "" if ok else ": the call would fail with PHONE ALIAS ALREADY EXISTS"
    else:
        ok = row_matches(row, alias_request.previous_name, alias_request.previous_logins)
        consequence = "" if ok else ": the portal and VICIdial disagree (drift)"
    return Check("database", label, ok, f"VICIdial's database: {found}{consequence}.")


def _circuit_check(alias_request: AliasRequest) -> Check:
    stopped = vicidial_calls_stopped_reason(alias_request.server)
    return Check(
        key=CIRCUIT_CHECK,
        label=f"Calls to {server_label(alias_request.server)} are allowed",
        ok=not stopped,
        detail=stopped or "VICIdial has not refused the portal's login.",
    )


def _parameters_check(alias_request: AliasRequest) -> Check:
    operation = vicidial_operation(alias_request)
    label = f"What {operation.function} will send"
    try:
        client = VicidialClient(server=alias_request.server)
        fields = client.preview(
            operation.function, operation.arguments, reference=str(alias_request.pk)
        )
    except (ImproperlyConfigured, ValueError) as error:
        return Check("parameters", label, False, f"The portal's settings cannot make it: {error}")
    config = client.config
    # The public form: the audit trail keeps this detail forever.
    return Check("parameters", label, True, f"{config.method} {config.public_url}", fields=fields)


def checks_shown_token(request_id: int, viewer_pk: int, checks: list[Check]) -> str:
    """The checks as a page shows them to one person, signed and timed: posted back with the
    approval, they let the audit event record exactly what that approver saw (the password
    is masked in them)."""
    shown = {
        "request": request_id,
        "viewer": viewer_pk,
        "at": timezone.now().isoformat(),
        "checks": [check.as_record() for check in checks],
    }
    return signing.dumps(shown, salt=SHOWN_SALT, compress=True)


@dataclass(frozen=True)
class ShownChecks:
    """What a posted token proves: `problem` is "" when the checks are the ones this
    approver was shown for this request, recently; else why they are not."""

    problem: str
    checks: list[dict[str, Any]] | None = None
    shown_at: str = ""


def checks_shown(request_id: int, actor_pk: int, token: str) -> ShownChecks:
    if not token:
        return ShownChecks("not_posted")
    try:
        shown = signing.loads(token, salt=SHOWN_SALT, max_age=SHOWN_MAX_AGE)
    except signing.SignatureExpired:
        return ShownChecks("expired")
    except signing.BadSignature:
        return ShownChecks("invalid")
    if not isinstance(shown, dict) or shown.get("request") != request_id:
        return ShownChecks("other_request")
    if shown.get("viewer") != actor_pk:
        return ShownChecks("other_viewer")
    return ShownChecks("", shown.get("checks"), shown.get("at", ""))
