"""Logging: one JSON object per line on stdout in production, a plain line in development.

Every record goes through the same structlog processors, whoever logs it (Django, the
portal, the task worker, gunicorn): a timestamp, the level, the logger, the event, the
request id bound by aliases/request_id.py, and the secrets masked last of all.
"""

from __future__ import annotations

import functools
import json
import logging.config
import os
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

FORMATS = ("json", "plain")
MASK = "********"
# A shorter "password" would mask every occurrence of a common word or digit; such values
# are still masked wherever they stand in a URL's user-info or a pass= parameter.
MIN_SECRET_LENGTH = 4
# Environment variables holding a VICIdial password or a URL with one: read as well as the
# settings, so gunicorn's master, which loads no Django settings, masks them too.
SECRET_VARIABLES = re.compile(
    r"VICIDIAL_(\w+_)?(API_PASS|DB_URL)|(MIGRATE_)?DATABASE_URL|EMAIL_URL"
)
URL_USERINFO = re.compile(r"(?P<start>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:@/?#]*):[^\s@/?#]+@")
# VICIdial's GET query, a form body, a libpq conninfo string (password=...).
PASSWORD_PARAMETER = re.compile(
    r"(?<![\w-])(?P<name>pass|password|passwd|pwd)=[^&\s\"',;]+", flags=re.IGNORECASE
)
# Django's request logger passes the response's status; the request object itself stays out.
EXTRA_KEYS = ("status_code",)
HEAD_KEYS = ("timestamp", "level", "logger", "event")


def logging_settings(*, level: str, log_format: str) -> dict[str, Any]:
    """The LOGGING dict for Django (settings.py) and gunicorn (logconfig_dict)."""
    if log_format not in FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(FORMATS)}.")
    # JSON for the container's log collector, which reads stdout; a person at a terminal
    # keeps command output (stdout) apart from the log (stderr).
    stream = "ext://sys.stdout" if log_format == "json" else "ext://sys.stderr"
    # Named without handlers: their own (Django's defaults, gunicorn's) go, and every line
    # reaches the one handler on the root logger.
    through_root = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {log_format: {"()": f"portal.logs.{log_format}_formatter"}},
        "filters": {"one_line_403": {"()": "aliases.log_filters.OneLineForbidden"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "stream": stream}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {**through_root, "level": "INFO"},
            "django.server": {**through_root, "level": "WARNING"},
            "axes": {"level": "WARNING"},
            # A 403 is one line, not a traceback per refusal.
            "django.request": {"filters": ["one_line_403"]},
            # No level: gunicorn sets its own from its --log-level.
            "gunicorn.error": through_root,
            "gunicorn.access": through_root,
        },
    }


def gunicorn_logconfig_dict() -> dict[str, Any]:
    """For gunicorn.conf.py: its master and its workers log as the portal does."""
    import environ

    env = environ.Env()
    default_format = "plain" if env.bool("DEBUG", default=False) else "json"
    return logging_settings(
        level=env.str("LOG_LEVEL", default="INFO"),
        log_format=env.str("LOG_FORMAT", default=default_format),
    )


def configure(config: dict[str, Any]) -> None:
    """LOGGING_CONFIG: the standard library's logging, and structlog's own loggers on top
    of it, so a structlog.get_logger() line looks like any other."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(config)


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    # ASCII only: a newline or a control character in a message cannot start a forged line.
    return _formatter(structlog.processors.JSONRenderer(serializer=json.dumps, sort_keys=False))


def plain_formatter() -> structlog.stdlib.ProcessorFormatter:
    return _formatter(render_plain)


def _formatter(renderer) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ExtraAdder(allow=EXTRA_KEYS),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _in_reading_order,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            # Last before rendering: the traceback is text by now, and is masked too.
            redact_secrets,
            renderer,
        ],
    )


def _in_reading_order(logger, method_name: str, event_dict: dict) -> dict:
    first = {key: event_dict.pop(key) for key in HEAD_KEYS if key in event_dict}
    return {**first, **event_dict}


def render_plain(logger, method_name: str, event_dict: dict) -> str:
    """The line the portal logged before JSON, with the bound values after the message."""
    event_dict = dict(event_dict)
    exception = event_dict.pop("exception", "")
    head = [event_dict.pop(key, "") for key in HEAD_KEYS]
    head[1] = str(head[1]).upper()
    line = " ".join([*map(str, head), *(f"{key}={value}" for key, value in event_dict.items())])
    return f"{line}\n{exception}" if exception else line


def redact_secrets(logger, method_name: str, event_dict: dict) -> dict:
    """Mask the VICIdial passwords and the databases' and mail server's passwords, in every
    form redact() knows (URL-encoded, HTML-escaped, as VICIdial echoes it), plus anything in
    a URL's user-info or a pass= / password= parameter, whoever wrote the message."""
    masking = current_masking()
    return {key: _scrub(value, masking) for key, value in event_dict.items()}


def _scrub(value: Any, masking: Masking) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {_scrub(key, masking): _scrub(item, masking) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_scrub(item, masking) for item in value]
    # Anything else is rendered as text anyway (an exception, a URL object): mask that text.
    return masking.scrub(str(value))


class Masking:
    def __init__(self, secrets: tuple[str, ...]) -> None:
        # Imported here: settings.py imports this module before the apps are loaded.
        from aliases.vicidial.redaction import may_echo_a_login, redact, secret_forms

        self.secrets = secrets
        self._redact, self._may_echo_a_login = redact, may_echo_a_login
        forms = sorted({form for secret in secrets for form in secret_forms(secret)})
        # Most lines hold no secret: one search spares them redact(), since every line is
        # formatted on the time of the request that logs it.
        self._any_form = re.compile("|".join(map(re.escape, forms))) if forms else None

    def scrub(self, text: str) -> str:
        if self._may_echo_a_login(text) or (self._any_form and self._any_form.search(text)):
            for secret in self.secrets:
                text = self._redact(text, secret)
        if "@" in text:
            text = URL_USERINFO.sub(rf"\g<start>:{MASK}@", text)
        if "=" in text:
            text = PASSWORD_PARAMETER.sub(rf"\g<name>={MASK}", text)
        return text


def current_masking() -> Masking:
    from django.conf import settings

    # gunicorn's master logs before (and without) Django's settings; a .env file may not be
    # read yet either: nothing is kept until the settings are.
    if not settings.configured:
        return Masking(known_secrets())
    return _settled_masking()


@functools.cache
def _settled_masking() -> Masking:
    return Masking(known_secrets())


@receiver(setting_changed)
def _forget_masking(**kwargs) -> None:
    _settled_masking.cache_clear()


def known_secrets() -> tuple[str, ...]:
    """The configured passwords, longest first (so a shorter one never leaves a tail)."""
    values = {value for name, value in os.environ.items() if SECRET_VARIABLES.fullmatch(name)}
    values |= _secrets_in_settings()
    passwords = {_password_in(value) for value in values if value}
    return tuple(
        sorted((p for p in passwords if len(p) >= MIN_SECRET_LENGTH), key=len, reverse=True)
    )


def _secrets_in_settings() -> set[str]:
    from django.conf import settings

    if not settings.configured:
        return set()
    servers = getattr(settings, "VICIDIAL_SERVERS", {}).values()
    return {
        getattr(settings, "VICIDIAL_API_PASS", ""),
        getattr(settings, "VICIDIAL_DB_URL", ""),
        getattr(settings, "EMAIL_HOST_PASSWORD", ""),
        *(database.get("PASSWORD") or "" for database in settings.DATABASES.values()),
        *(server.get(key) or "" for server in servers for key in ("API_PASS", "DB_URL")),
    }


def _password_in(value: str) -> str:
    """A URL's password (decoded; redact() also masks its encoded forms), or the value."""
    if "://" not in value:
        return value
    try:
        return unquote(urlsplit(value).password or "")
    except ValueError:
        return ""
