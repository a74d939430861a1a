"""Keeping the VICIdial API password out of everything the portal stores, shows or logs,
without editing what is legitimately the user's data."""

from __future__ import annotations

import html
import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote, quote_plus

# VICIdial echoes the sent password, filtered to these characters, in "Login incorrect".
_VICIDIAL_DELETES_FROM_PASSWORD = re.compile(r"[^A-Za-z0-9_-]")
_LOGIN_ECHO = re.compile(r"(Login incorrect, please try again: \|[^|\n]*\|)[^|\n]+(?=\|)")

# A password this long and this varied cannot plausibly be part of an alias name, an alias
# ID or a phone login, so masking it in free text never edits a real value by accident.
MIN_PASSWORD_LENGTH = 12
MIN_DISTINCT_CHARACTERS = 8


def redact(text: str, secret: str, *, keep: Iterable[str] = ()) -> str:
    """Mask the password where VICIdial echoes it, and any other form of it in `text`,
    except where it lies wholly inside one of the `keep` values (what the user asked for,
    echoed back by VICIdial): those are the user's own words and stay as they are.

    Without `keep`, the result never holds the secret. The mask shares no character with
    any form of the secret, so masking cannot create a new occurrence and is idempotent.
    """
    variants = _secret_variants(secret)
    mask = _mask_for(variants)
    protected = _spans_of([value for value in keep if value], text)
    masked: list[tuple[int, int]] = []
    taken = bytearray(len(text))
    for variant in variants:  # longest first, so a shorter form never leaves a tail behind
        for start in _occurrences(variant, text):
            end = start + len(variant)
            if not any(taken[start:end]) and not _inside_any((start, end), protected):
                masked.append((start, end))
                taken[start:end] = b"\x01" * len(variant)
    pieces, position = [], 0
    for start, end in sorted(masked):
        pieces += [text[position:start], mask]
        position = end
    text = "".join([*pieces, text[position:]])
    # The echo is the password field, never the user's data, so it goes whatever it holds.
    return _LOGIN_ECHO.sub(lambda match: match[1] + mask, text)


def mask_for(secret: str) -> str:
    """What the password is replaced with, e.g. as the value of the sent `pass` field."""
    return _mask_for(_secret_variants(secret))


def secret_forms(secret: str) -> tuple[str, ...]:
    """Every form of `secret` that redact() masks, besides VICIdial's echo of a login: text
    that holds none of them and no echo needs no redact() (a cheap test, for the logs)."""
    return tuple(_secret_variants(secret))


def may_echo_a_login(text: str) -> bool:
    return "Login incorrect" in text


def _secret_variants(secret: str) -> list[str]:
    escaped = html.escape(secret, quote=True)
    forms = {
        secret,
        quote_plus(secret, safe="", errors="surrogatepass"),
        quote(secret, safe="", errors="surrogatepass"),
        escaped,
        # PHP's htmlspecialchars writes a quote as &#039; (ENT_QUOTES) or &apos; (ENT_HTML5).
        escaped.replace("&#x27;", "&#039;"),
        escaped.replace("&#x27;", "&apos;"),
        html.escape(secret, quote=False),
        _VICIDIAL_DELETES_FROM_PASSWORD.sub("", secret),
    }
    return sorted(filter(None, forms), key=len, reverse=True)


def _mask_for(variants: Sequence[str]) -> str:
    used = set().union(*variants)
    symbols = itertools.chain("*#~^", map(chr, itertools.count(0x2588)))
    return next(symbol for symbol in symbols if symbol not in used) * 8


def _occurrences(needle: str, text: str) -> Iterable[int]:
    start = text.find(needle)
    while start != -1:
        yield start
        start = text.find(needle, start + 1)


def _spans_of(values: Sequence[str], text: str) -> list[tuple[int, int]]:
    return [(start, start + len(value)) for value in values for start in _occurrences(value, text)]


def _inside_any(span: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


def password_weakness(password: str) -> str:
    """Why the API password is too weak to be told apart from real values, or ""."""
    # Imported here: the simulator uses redact() without Django's auth app around.
    from django.contrib.auth.password_validation import (
        CommonPasswordValidator,
        NumericPasswordValidator,
    )
    from django.core.exceptions import ValidationError

    effective = _VICIDIAL_DELETES_FROM_PASSWORD.sub("", password)
    if len(effective) < MIN_PASSWORD_LENGTH:
        return (
            f"it has {len(effective)} characters VICIdial keeps (letters, digits, - and _); "
            f"use at least {MIN_PASSWORD_LENGTH}"
        )
    if len(set(effective)) < MIN_DISTINCT_CHARACTERS:
        return f"it uses fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    for validator in (CommonPasswordValidator(), NumericPasswordValidator()):
        try:
            validator.validate(effective)
        except ValidationError:
            return "it is a common or all-digit password"
    return ""


class _HideQueryPasswords(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string and all: in GET mode that
    line holds the API password."""

    PASS_PARAMETER = re.compile(r"([?&]pass=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = self.PASS_PARAMETER.sub(r"\1********", message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


def hide_passwords_from_urllib3_logs() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, _HideQueryPasswords) for existing in logger.filters):
        logger.addFilter(_HideQueryPasswords())
