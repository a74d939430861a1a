"""Configuration invariants checked at start-up and by `manage.py check --deploy`."""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

SOURCE_TAG = re.compile(r"[A-Za-z0-9]{2,16}")
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
                "VICIDIAL_API_SOURCE must be 2 to 16 letters or digits "
                "(VICIdial strips anything else, and the request number is appended).",
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
