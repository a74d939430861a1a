"""Configuration invariants checked at start-up and by `manage.py check --deploy`.

portal/wsgi.py refuses to serve while any of these reports an error, so gunicorn never
starts workers that would fail on their first approval.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.views.decorators.debug import sensitive_variables

from .vicidial.client import MAX_REFERENCE_DIGITS, MIN_BODY_CAP, SOURCE_TAG, SOURCE_WIDTH
from .vicidial.redaction import password_weakness
from .vicidial.servers import (
    SERVER_NAME,
    SERVER_NAME_MAX_LENGTH,
    raw_server_settings,
    server_names,
    setting_name,
)
from .vicidial_db import VicidialDatabase, VicidialDatabaseError

# VICIdial deletes every other character from the password before comparing it.
VICIDIAL_PASSWORD_CHARS = re.compile(r"[A-Za-z0-9_-]+")


@checks.register()
def vicidial_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    problems = _server_names()
    for name in server_names():
        if SERVER_NAME.fullmatch(name):
            problems += _server_settings(name, raw_server_settings(name))
    return problems


def _server_names() -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"VICIDIAL_SERVERS lists {name!r}: a server name is a lower-case letter, then up to "
            f"{SERVER_NAME_MAX_LENGTH - 1} lower-case letters, digits or _.",
            id="aliases.E010",
        )
        for name in server_names()
        if not SERVER_NAME.fullmatch(name)
    ]


def _server_settings(name: str, values: dict) -> list[checks.CheckMessage]:
    def setting(key: str) -> str:
        return setting_name(name, key)

    problems = []
    numbers = {}
    for key, kind in NUMBERS.items():
        try:
            numbers[key] = kind(values[key])
        except (TypeError, ValueError):
            problems.append(checks.Error(f"{setting(key)} must be a number.", id="aliases.E011"))
    parts = urlsplit(str(values["API_URL"]))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            checks.Error(
                f"{setting('API_URL')} must be an http(s) URL of non_agent_api.php.",
                id="aliases.E001",
            )
        )
    if parts.username or parts.password:
        problems.append(
            checks.Error(
                f"{setting('API_URL')} must not carry credentials; "
                f"use {setting('API_USER')} and {setting('API_PASS')}.",
                id="aliases.E002",
            )
        )
    if parts.query or parts.fragment or str(values["API_URL"]).endswith(("?", "#")):
        # VICIdial lets query-string parameters win over the POST body: a user= or pass=
        # there would override the configured ones, and the URL is shown and recorded.
        problems.append(
            checks.Error(
                f"{setting('API_URL')} must not carry a query string or fragment; give "
                "the address of non_agent_api.php only.",
                id="aliases.E002",
            )
        )
    if not SOURCE_TAG.fullmatch(str(values["API_SOURCE"])):
        problems.append(
            checks.Error(
                f"{setting('API_SOURCE')} must be 2 to {SOURCE_WIDTH - MAX_REFERENCE_DIGITS} "
                "letters or digits: VICIdial strips anything else, and the request number "
                f"(up to {MAX_REFERENCE_DIGITS} digits) is appended within its "
                f"{SOURCE_WIDTH}-character source column.",
                id="aliases.E003",
            )
        )
    if str(values["HTTP_METHOD"]).upper() not in ("GET", "POST"):
        problems.append(
            checks.Error(f"{setting('HTTP_METHOD')} must be POST or GET.", id="aliases.E004")
        )
    password = str(values["API_PASS"])
    if password and not VICIDIAL_PASSWORD_CHARS.fullmatch(password):
        problems.append(
            checks.Warning(
                f"{setting('API_PASS')} holds characters VICIdial deletes before comparing; "
                "the effective password is shorter than the one configured.",
                id="aliases.W001",
            )
        )
    weakness = password_weakness(password) if password and not settings.DEBUG else ""
    if weakness:
        problems.append(
            checks.Error(
                f"{setting('API_PASS')} is too weak: {weakness}.",
                hint=(
                    "The portal masks the password wherever VICIdial could echo it; a short "
                    "or guessable one could also be part of a real alias name. Use e.g. "
                    "python -c 'import secrets; print(secrets.token_urlsafe(18))'."
                ),
                id="aliases.E005",
            )
        )
    if len(numbers) == len(NUMBERS):
        problems += _call_limits(setting, numbers)
    deadline = numbers.get("TOTAL_DEADLINE")
    problems += _settle_delay(setting, values.get("SETTLE_DELAY"), deadline)
    problems += _database_url(setting("DB_URL"), str(values["DB_URL"] or ""))
    return problems


def _settle_delay(setting, delay, deadline: float | None) -> list[checks.CheckMessage]:
    """VICIdial's database may settle an unknown outcome only once no call can still change
    it: a delay not longer than the call's deadline could record a call still under way."""
    if delay in (None, ""):
        return []  # the deadline plus a margin
    try:
        seconds = float(delay)
    except (TypeError, ValueError):
        return [
            checks.Error(
                f"{setting('SETTLE_DELAY')} must be a number of seconds.", id="aliases.E030"
            )
        ]
    if deadline is None or seconds > deadline:
        return []  # an unreadable deadline is reported as such (E011)
    return [
        checks.Error(
            f"{setting('SETTLE_DELAY')} ({seconds:g} s) must be longer than "
            f"{setting('TOTAL_DEADLINE')} ({deadline:g} s): a call may still "
            "be changing VICIdial until its deadline.",
            id="aliases.E031",
        )
    ]


@sensitive_variables()
def _database_url(setting: str, db_url: str) -> list[checks.CheckMessage]:
    """A DB URL the driver cannot use would fail every read of it; say so at start-up, by
    the setting's name (the URL holds the password, so neither is quoted)."""
    if not db_url:
        return []
    try:
        target = VicidialDatabase.from_url(db_url)
    except VicidialDatabaseError as error:
        return [checks.Error(f"{setting}: {error}", id="aliases.E012")]
    if not target.password_is_sendable:
        return [
            checks.Error(
                f"{setting} has a password the MySQL driver cannot send: it sends the "
                "password as Latin-1, and this one holds other characters.",
                hint="Give the read-only account a password of ASCII letters and digits.",
                id="aliases.E012",
            )
        ]
    return []


# Per-server settings that are numbers, and how each is read.
NUMBERS = {
    "TOTAL_DEADLINE": float,
    "CONNECT_TIMEOUT": float,
    "TIMEOUT": float,
    "MAX_BODY_BYTES": int,
    "MAX_IN_FLIGHT": int,
    "CALLS_PER_SECOND": float,
}


def _call_limits(setting, numbers: dict) -> list[checks.CheckMessage]:
    problems = []
    deadline = numbers["TOTAL_DEADLINE"]
    connect = numbers["CONNECT_TIMEOUT"]
    if not deadline > connect > 0:
        problems.append(
            checks.Error(
                f"{setting('TOTAL_DEADLINE')} ({deadline:g} s) must exceed "
                f"{setting('CONNECT_TIMEOUT')} ({connect:g} s), which must be above 0.",
                id="aliases.E006",
            )
        )
    if numbers["MAX_BODY_BYTES"] < MIN_BODY_CAP:
        problems.append(
            checks.Error(
                f"{setting('MAX_BODY_BYTES')} must be at least {MIN_BODY_CAP}.", id="aliases.E008"
            )
        )
    if numbers["MAX_IN_FLIGHT"] < 1:
        problems.append(
            checks.Error(f"{setting('MAX_IN_FLIGHT')} must be at least 1.", id="aliases.E009")
        )
    if numbers["CALLS_PER_SECOND"] < 0:
        problems.append(
            checks.Error(
                f"{setting('CALLS_PER_SECOND')} must be 0 (no limit) or more.", id="aliases.E013"
            )
        )
    return problems


@checks.register(checks.Tags.security, deploy=True)
def vicidial_over_tls(app_configs, **kwargs) -> list[checks.CheckMessage]:
    problems = []
    for name in server_names():
        url = str(raw_server_settings(name)["API_URL"])
        host = urlsplit(url).hostname or ""
        if url.startswith("https://") or host in ("127.0.0.1", "localhost", "::1"):
            continue
        problems.append(
            checks.Warning(
                f"{setting_name(name, 'API_URL')} is plain http; the API password would cross "
                "the network in clear.",
                hint="Use https:// for the VICIdial server.",
                id="aliases.W002",
            )
        )
    return problems
