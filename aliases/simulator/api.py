"""How VICIdial's non_agent_api.php answers, worked out from the observed fixtures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from .state import (
    COFFEE_BODY,
    COLUMN_WIDTHS,
    LOCK_ATTEMPTS,
    LOCK_SECONDS,
    SimAlias,
    SimulatorState,
    SimUser,
    vicidial_filtered,
)
from .store import StoreError


def answer(state: SimulatorState, params: Mapping[str, str], *, client_ip: str) -> tuple[int, str]:
    """VICIdial's (HTTP status, body) for one request.

    Check order, worked out from the fixtures: version and coffee (no login needed);
    login (unknown or inactive user or wrong password, lockout, IP allow-list); the
    user's api_allowed_functions; source; unknown function. Then per function:
    permission, required fields, alias exists, each phone login in turn, and last the
    column widths (strict SQL mode: HTTP 500, empty body, nothing written).
    """
    value = {name: vicidial_filtered(name, raw) for name, raw in params.items()}
    function = params.get("function", "")
    with state.lock:
        if function == "version":
            return 200, _version_body(state)
        if function == "coffee":
            return 418, COFFEE_BODY
        try:
            return 200, _authorised_answer(state, function, value, client_ip)
        except (_StrictSqlRefusal, StoreError):
            return 500, ""


def _authorised_answer(
    state: SimulatorState, function: str, value: dict[str, str], client_ip: str
) -> str:
    user = value.get("user", "")
    refusal = _login_refusal(state, user, value.get("pass", ""), client_ip)
    if refusal:
        return refusal
    account = state.users[user.lower()]
    if not account.may_call(function):
        reason = "auth USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION"
        return f"ERROR: {reason}: |{user}|{function}|\n"
    source = value.get("source", "")
    if len(source) < 2:
        return f"ERROR: Invalid Source - {source}\nERROR: Invalid Source: |{source}|\n"
    if function == "add_phone_alias":
        return _add_alias(state, account, user, value)
    if function == "update_phone_alias":
        return _update_alias(state, account, user, value)
    return "ERROR: NO FUNCTION SPECIFIED\n"


def _version_body(state: SimulatorState) -> str:
    now = state.clock()
    # The observed server printed DATE in its own clock's zone (UTC: EPOCH 1795724700 is
    # 20:25:00) while reporting TZ -5.00 from its VICIdial settings.
    date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"VERSION: 2.14-202|BUILD: 250720-1841|DATE: {date}|EPOCH: {int(now)}"
        "|DST: 0|TZ: -5.00|TZNOW: -5.00|\n"
    )


def _login_refusal(state: SimulatorState, user: str, password: str, client_ip: str) -> str | None:
    account = state.users.get(user.lower())
    now = state.clock()
    if account is not None and account.active:
        recently_logged_in = (
            account.last_login is not None and now - account.last_login < LOCK_SECONDS
        )
        if account.failed_logins >= LOCK_ATTEMPTS and recently_logged_in:
            return f"ERROR: Too many login attempts, try again in 15 minutes: |{user}|LOCK|\n"
        if len(password) >= 2 and password == account.password:
            if state.allowed_ips is not None and client_ip not in state.allowed_ips:
                return f"ERROR: Your IP Address is not allowed: {client_ip}: |{user}|IPBLOCK|\n"
            account.failed_logins, account.last_login = 0, now
            return None
        account.failed_logins += 1
    # VICIdial echoes the (filtered) password it was sent.
    return f"ERROR: Login incorrect, please try again: |{user}|{password}|BAD|\n"


def _add_alias(state: SimulatorState, account: SimUser, user: str, value: dict[str, str]) -> str:
    alias_id = value.get("alias_id", "")
    alias_name = value.get("alias_name", "")
    logins = value.get("phone_logins", "")
    error = "ERROR: add_phone_alias"
    if not account.may_admin_phones:
        return f"{error} USER DOES NOT HAVE PERMISSION TO ADD PHONE ALIASES: |{user}|0\n"
    if len(alias_id) < 2 or not alias_name or len(logins) < 2:
        fields = f"|{user}|{alias_id}|{alias_name}|{logins}"
        return f"{error} YOU MUST USE ALL REQUIRED FIELDS: {fields}\n"
    if state.alias(alias_id):
        return f"{error} PHONE ALIAS ALREADY EXISTS: |{user}|{alias_id}\n"
    unknown = _first_unknown_login(state, logins)
    if unknown is not None:
        return f"{error} PHONE DOES NOT EXIST: |{user}|{unknown}\n"
    row = _stored_row(state, alias_id=alias_id, alias_name=alias_name, logins_list=logins)
    if state.store.alias(row["alias_id"]) is not None:
        raise _StrictSqlRefusal  # duplicate key after truncation fails in any SQL mode
    state.store.put_alias(SimAlias(**row))
    added = f"{user}|{alias_id}|{alias_name}|{logins}"
    return f"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - {added}\n"


def _update_alias(state: SimulatorState, account: SimUser, user: str, value: dict[str, str]) -> str:
    alias_id = value.get("alias_id", "")
    alias_name = value.get("alias_name", "")
    logins = value.get("phone_logins", "")
    delete = value.get("delete_alias", "")
    error, notice = "ERROR: update_phone_alias", "NOTICE: update_phone_alias"
    success = "SUCCESS: update_phone_alias PHONE ALIAS HAS BEEN"
    if not account.may_admin_phones:
        return f"{error} USER DOES NOT HAVE PERMISSION TO UPDATE PHONE ALIASES: |{user}|0\n"
    if len(alias_id) < 2 or not (alias_name or logins or delete):
        return f"{error} YOU MUST USE ALL REQUIRED FIELDS: |{user}|{alias_id}|{alias_name}|\n"
    alias = state.alias(alias_id)
    if alias is None:
        return f"{error} PHONE ALIAS DOES NOT EXIST: |{user}|{alias_id}\n"
    if delete == "Y":
        if not account.ast_delete_phones:
            reason = "USER DOES NOT HAVE PERMISSION TO DELETE PHONE ALIASES"
            return f"{notice} {reason}: |{user}|0\n"
        state.store.delete_alias(alias_id)
        return f"{success} DELETED - {user}|{alias_id}\n"
    changes = {}
    if alias_name:
        if not 2 <= len(alias_name) <= COLUMN_WIDTHS["alias_name"]:
            return f"{error} YOU MUST USE A VALID ALIAS NAME: |{user}|{alias_name}\n"
        changes["alias_name"] = alias_name
    # VICIdial ignores phone_logins shorter than 2 characters without a word (fixture U6b).
    if len(logins) >= 2:
        unknown = _first_unknown_login(state, logins)
        if unknown is not None:
            return f"{error} PHONE DOES NOT EXIST: |{user}|{unknown}\n"
        changes["logins_list"] = logins
    if not changes:
        return f"{notice} NO UPDATES DEFINED: |{user}|\n"
    state.store.update_alias(alias.alias_id, _stored_row(state, **changes))
    return f"{success} UPDATED - {user}|{alias_id}|\n"


def _first_unknown_login(state: SimulatorState, logins: str) -> str | None:
    # Checked one by one, so an empty element ("cc100,") is a phone that does not exist.
    unknown = (
        login for login in logins.split(",") if not login or not state.store.has_phone(login)
    )
    return next(unknown, None)


def _stored_row(state: SimulatorState, **columns: str) -> dict[str, str]:
    """Columns as MySQL stores them: strict mode refuses over-long values, lenient cuts."""
    if state.strict_sql and any(len(text) > COLUMN_WIDTHS[name] for name, text in columns.items()):
        raise _StrictSqlRefusal
    return {name: text[: COLUMN_WIDTHS[name]] for name, text in columns.items()}


class _StrictSqlRefusal(Exception):
    """The write failed in MySQL: PHP dies with HTTP 500 and an empty body."""
