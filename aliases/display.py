"""What some template filters print, for code that writes a long table's rows in Python
(aliases/templatetags/portal_rows.py). Through Django's filters, `|date:"DATETIME_FORMAT"`
costs ~50 µs a value and `|truncatechars` ~40 µs (a translation lookup each time): a few
milliseconds for a page of 50 events, most of a second for an extension rung by 700 aliases.
"""

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.utils.formats import date_format, get_format, localize
from django.utils.text import Truncator, add_truncation_text, calculate_truncate_chars_length
from django.utils.timezone import template_localtime
from django.utils.translation import pgettext

# Django's format characters this module writes itself ("Y-m-d H:i:s T", the portal's
# DATETIME_FORMAT); any other format goes through django.utils.dateformat.
_FIELDS = {
    "Y": "{0.year:04d}",
    "m": "{0.month:02d}",
    "d": "{0.day:02d}",
    "H": "{0.hour:02d}",
    "i": "{0.minute:02d}",
    "s": "{0.second:02d}",
    "T": "{1}",
}


@lru_cache(maxsize=16)
def _pattern(django_format: str) -> str | None:
    """`django_format` as a str.format pattern, or None if it uses more than _FIELDS."""
    parts = []
    for char in django_format:
        if char in _FIELDS:
            parts.append(_FIELDS[char])
        elif char.isalpha() or char == "\\":
            return None
        else:
            parts.append(char.replace("{", "{{").replace("}", "}}"))
    return "".join(parts)


def datetime_text(value: datetime | None) -> str:
    """`{{ value|date:"DATETIME_FORMAT" }}`: in the current time zone, in the active format."""
    if value in (None, ""):
        return ""
    local = template_localtime(value)
    pattern = _pattern(get_format("DATETIME_FORMAT"))
    zone = local.tzinfo if isinstance(local, datetime) else None
    # dateformat leaves the zone's name out at a time the clock change makes ambiguous.
    if (
        pattern is None
        or zone is None
        or (zone.utcoffset(local.replace(fold=not local.fold)) != zone.utcoffset(local))
    ):
        return date_format(local, "DATETIME_FORMAT")
    return pattern.format(local, zone.tzname(local))


def truncator(length: int) -> Callable[[str], str]:
    """`{{ text|truncatechars:length }}`, with the ellipsis translated once, not per value."""
    ellipsis = pgettext("String to return when truncating text", "%(truncated_text)s…")
    keep = calculate_truncate_chars_length(length, ellipsis)

    def truncate(text: str) -> str:
        text = str(text)
        if length <= 0 or not text.isascii():  # combining characters, NFC: Django's way
            return Truncator(text).chars(length, ellipsis)
        return text if len(text) <= length else add_truncation_text(text[:keep], ellipsis)

    return truncate


def number_text(value: int) -> str:
    """`{{ value }}` for an int: grouped only if USE_THOUSAND_SEPARATOR says so."""
    return localize(value) if settings.USE_THOUSAND_SEPARATOR else str(value)
