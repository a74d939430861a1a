"""Keeping the VICIdial API password out of everything the portal stores, shows or logs."""

from __future__ import annotations

import html
import itertools
import logging
import re
from collections.abc import Sequence
from urllib.parse import quote, quote_plus

# VICIdial echoes the sent password, filtered to these characters, in "Login incorrect".
_VICIDIAL_DELETES_FROM_PASSWORD = re.compile(r"[^A-Za-z0-9_-]")
_LOGIN_ECHO = re.compile(r"(Login incorrect, please try again: \|[^|\n]*\|)[^|\n]+(?=\|)")


def redact(text: str, secret: str) -> str:
    # The mask shares no character with any form of the secret, so no replacement can
    # create a new occurrence: the result never holds the secret and redacting is idempotent.
    variants = _secret_variants(secret)
    mask = _mask_for(variants)
    for variant in variants:
        text = text.replace(variant, mask)
    return _LOGIN_ECHO.sub(lambda match: match[1] + mask, text)


def _secret_variants(secret: str) -> list[str]:
    forms = {
        secret,
        quote_plus(secret, safe="", errors="surrogatepass"),
        quote(secret, safe="", errors="surrogatepass"),
        html.escape(secret, quote=True),
        html.escape(secret, quote=False),
        _VICIDIAL_DELETES_FROM_PASSWORD.sub("", secret),
    }
    return sorted(filter(None, forms), key=len, reverse=True)


def _mask_for(variants: Sequence[str]) -> str:
    used = set().union(*variants)
    symbols = itertools.chain("*#~^", map(chr, itertools.count(0x2588)))
    return next(symbol for symbol in symbols if symbol not in used) * 8


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
