"""Configuration invariants checked at start-up and by `manage.py check --deploy`.

portal/wsgi.py refuses to serve while any of these reports an error, so gunicorn never
starts workers that would fail on their first approval.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

from .vicidial.client import MAX_REFERENCE_DIGITS, MIN_BODY_CAP, SOURCE_TAG, SOURCE_WIDTH
from .vicidial.redaction import password_weakness

# VICIdial deletes every other character from the password before comparing it.
VICIDIAL_PASSWORD_CHARS = re.compile(r"[A-Za-z0-9_-]+")


@checks.register()
def vicidial_settings(app_configs, **kwargs) -> list[checks.CheckMessage]:
    problems = []
    parts = urlsplit(settings.VICIDIAL_API_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            checks.Error(
                "VICIDIAL_API_URL must be an http(s) URL of non_agent_api.php.",
                id="aliases.E001",
            )
        )
    if parts.username or parts.password:
        problems.append(
            checks.Error(
                "VICIDIAL_API_URL must not carry credentials; "
                "use VICIDIAL_API_USER and VICIDIAL_API_PASS.",
                id="aliases.E002",
            )
        )
    if not SOURCE_TAG.fullmatch(settings.VICIDIAL_API_SOURCE):
        problems.append(
            checks.Error(
                f"VICIDIAL_API_SOURCE must be 2 to {SOURCE_WIDTH - MAX_REFERENCE_DIGITS} "
                "letters or digits: VICIdial strips anything else, and the request number "
                f"(up to {MAX_REFERENCE_DIGITS} digits) is appended within its "
                f"{SOURCE_WIDTH}-character source column.",
                id="aliases.E003",
            )
        )
    if settings.VICIDIAL_HTTP_METHOD not in ("GET", "POST"):
        problems.append(
            checks.Error("VICIDIAL_HTTP_METHOD must be POST or GET.", id="aliases.E004")
        )
    password = settings.VICIDIAL_API_PASS
    if password and not VICIDIAL_PASSWORD_CHARS.fullmatch(password):
        problems.append(
            checks.Warning(
                "VICIDIAL_API_PASS holds characters VICIdial deletes before comparing; "
                "the effective password is shorter than the one configured.",
                id="aliases.W001",
            )
        )
    weakness = password_weakness(password) if password and not settings.DEBUG else ""
    if weakness:
        problems.append(
            checks.Error(
                f"VICIDIAL_API_PASS is too weak: {weakness}.",
                hint=(
                    "The portal masks the password wherever VICIdial could echo it; a short "
                    "or guessable one could also be part of a real alias name. Use e.g. "
                    "python -c 'import secrets; print(secrets.token_urlsafe(18))'."
                ),
                id="aliases.E005",
            )
        )
    return problems + _call_limits()


def _call_limits() -> list[checks.CheckMessage]:
    problems = []
    deadline = settings.VICIDIAL_TOTAL_DEADLINE
    connect = settings.VICIDIAL_CONNECT_TIMEOUT
    if not deadline > connect > 0:
        problems.append(
            checks.Error(
                f"VICIDIAL_TOTAL_DEADLINE ({deadline:g} s) must exceed "
                f"VICIDIAL_CONNECT_TIMEOUT ({connect:g} s), which must be above 0.",
                id="aliases.E006",
            )
        )
    # An approval may wait one deadline for a free slot, then call for one deadline.
    if 2 * deadline >= settings.GUNICORN_TIMEOUT:
        problems.append(
            checks.Error(
                f"Twice VICIDIAL_TOTAL_DEADLINE ({2 * deadline:g} s: a wait for a free "
                "slot, then the call) must stay below the worker timeout GUNICORN_TIMEOUT "
                f"({settings.GUNICORN_TIMEOUT:g} s), or a slow VICIdial gets the worker "
                "killed mid-call.",
                id="aliases.E007",
            )
        )
    if settings.VICIDIAL_MAX_BODY_BYTES < MIN_BODY_CAP:
        problems.append(
            checks.Error(
                f"VICIDIAL_MAX_BODY_BYTES must be at least {MIN_BODY_CAP}.", id="aliases.E008"
            )
        )
    if settings.VICIDIAL_MAX_IN_FLIGHT < 1:
        problems.append(
            checks.Error("VICIDIAL_MAX_IN_FLIGHT must be at least 1.", id="aliases.E009")
        )
    return problems


@checks.register(checks.Tags.security, deploy=True)
def vicidial_over_tls(app_configs, **kwargs) -> list[checks.CheckMessage]:
    host = urlsplit(settings.VICIDIAL_API_URL).hostname or ""
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if settings.VICIDIAL_API_URL.startswith("https://") or loopback:
        return []
    return [
        checks.Warning(
            "VICIDIAL_API_URL is plain http; the API password would cross the network in clear.",
            hint="Use https:// for the VICIdial server.",
            id="aliases.W002",
        )
    ]
