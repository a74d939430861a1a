"""The VICIdial servers behind the portal, configured the way Django configures DATABASES.

The server named `default` is today's flat VICIDIAL_* settings, so a deployment with one
VICIdial needs no change. Further servers are listed in VICIDIAL_SERVERS (settings.py reads
them from the environment: VICIDIAL_SERVERS=east,west and VICIDIAL_EAST_API_URL, ...). Each
has its own password, taken from the environment only and never written to the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from .client import VicidialConfig

DEFAULT_SERVER = "default"
# Stored on every request, call and alias, and part of environment variable names.
SERVER_NAME = re.compile(r"[a-z][a-z0-9_]{0,19}")
SERVER_NAME_MAX_LENGTH = 20

# Per-server keys, and the flat setting each falls back to (for `default`, each is read
# from that setting itself).
KEYS = {
    "API_URL": "VICIDIAL_API_URL",
    "API_USER": "VICIDIAL_API_USER",
    "API_PASS": "VICIDIAL_API_PASS",
    "API_SOURCE": "VICIDIAL_API_SOURCE",
    "TIMEOUT": "VICIDIAL_TIMEOUT",
    "CONNECT_TIMEOUT": "VICIDIAL_CONNECT_TIMEOUT",
    "HTTP_METHOD": "VICIDIAL_HTTP_METHOD",
    "TOTAL_DEADLINE": "VICIDIAL_TOTAL_DEADLINE",
    "MAX_BODY_BYTES": "VICIDIAL_MAX_BODY_BYTES",
    "MAX_IN_FLIGHT": "VICIDIAL_MAX_IN_FLIGHT",
    "CALLS_PER_SECOND": "VICIDIAL_CALLS_PER_SECOND",
    "DB_URL": "VICIDIAL_DB_URL",
    "LABEL": "VICIDIAL_SERVER_LABEL",
    "SETTLE_DELAY": "VICIDIAL_SETTLE_DELAY",
}
# Never inherited from `default`: another server with default's address or password would
# send one server's credentials to another.
OWN_KEYS = ("API_URL", "API_PASS", "DB_URL")
DEFAULTS = {
    "API_URL": "",
    "API_USER": "",
    "API_PASS": "",
    "API_SOURCE": "portal",
    "TIMEOUT": 10.0,
    "CONNECT_TIMEOUT": 3.0,
    "HTTP_METHOD": "POST",
    "TOTAL_DEADLINE": 20.0,
    "MAX_BODY_BYTES": 256 * 1024,
    "MAX_IN_FLIGHT": 1,
    "CALLS_PER_SECOND": 5.0,
    "DB_URL": "",
    "LABEL": "",
    # Empty: the server's TOTAL_DEADLINE plus a margin (services/db_verification.py).
    "SETTLE_DELAY": "",
}


class UnknownServer(ImproperlyConfigured):
    pass


@dataclass(frozen=True)
class VicidialServer:
    name: str
    label: str
    config: VicidialConfig
    # Read-only access to the server's `asterisk` database, for adopt, drift and verification.
    db_url: str = field(default="", repr=False)
    max_in_flight: int = 1

    def __str__(self) -> str:
        return self.label


def setting_name(server: str, key: str) -> str:
    """The environment variable (and flat setting) that configures `key` of `server`."""
    if server == DEFAULT_SERVER:
        return KEYS[key]
    return f"VICIDIAL_{server.upper()}_{key}"


def server_names() -> list[str]:
    extra = [name for name in getattr(settings, "VICIDIAL_SERVERS", {}) if name != DEFAULT_SERVER]
    return [DEFAULT_SERVER, *extra]


@sensitive_variables()
def raw_server_settings(name: str) -> dict[str, Any]:
    """The server's settings by key, as configured (unchecked)."""
    flat = {key: getattr(settings, setting, DEFAULTS[key]) for key, setting in KEYS.items()}
    if name == DEFAULT_SERVER:
        return flat
    own = getattr(settings, "VICIDIAL_SERVERS", {}).get(name)
    if own is None:
        raise UnknownServer(f"No VICIdial server is configured under the name {name!r}.")
    inherited = {key: value for key, value in flat.items() if key not in OWN_KEYS}
    inherited["LABEL"] = ""
    return {**DEFAULTS, **inherited, **{k: v for k, v in own.items() if v not in (None, "")}}


@sensitive_variables()
def vicidial_server(name: str = DEFAULT_SERVER) -> VicidialServer:
    if not SERVER_NAME.fullmatch(name or ""):
        raise UnknownServer(f"{name!r} is not a VICIdial server name.")
    values = raw_server_settings(name)
    if not values["API_URL"]:
        raise ImproperlyConfigured(f"{setting_name(name, 'API_URL')} is not set")
    config = VicidialConfig(
        url=values["API_URL"],
        user=str(values["API_USER"]),
        password=str(values["API_PASS"]),
        source_tag=str(values["API_SOURCE"]),
        connect_timeout=float(values["CONNECT_TIMEOUT"]),
        read_timeout=float(values["TIMEOUT"]),
        method=str(values["HTTP_METHOD"]).upper(),
        total_deadline=float(values["TOTAL_DEADLINE"]),
        max_body_bytes=int(values["MAX_BODY_BYTES"]),
    )
    return VicidialServer(
        name=name,
        label=str(values["LABEL"] or name),
        config=config,
        db_url=str(values["DB_URL"] or ""),
        max_in_flight=int(values["MAX_IN_FLIGHT"]),
    )


def vicidial_servers() -> list[VicidialServer]:
    return [vicidial_server(name) for name in server_names()]


def server_choices() -> list[tuple[str, str]]:
    """(name, label) of every configured server, for forms and filters."""
    choices = []
    for name in server_names():
        label = raw_server_settings(name)["LABEL"] or name
        choices.append((name, label))
    return choices


def server_label(name: str) -> str:
    return dict(server_choices()).get(name, name)


def has_several_servers() -> bool:
    return len(server_names()) > 1


def longest_deadline() -> float:
    """The longest total deadline of any server: bounds how long any call can be live."""
    deadlines = []
    for name in server_names():
        deadlines.append(float(raw_server_settings(name)["TOTAL_DEADLINE"]))
    return max(deadlines)
