"""Input rules that mirror what VICIdial keeps.

VICIdial silently deletes characters it does not allow and then echoes the filtered
value as if nothing happened. Rejecting such input here, naming the culprits, is what
keeps the portal's record identical to what VICIdial stores.
"""

import re
from collections.abc import Sequence

from django.core.exceptions import ValidationError

ALIAS_ID_CHARS = re.compile(r"[A-Za-z0-9_-]")
ALIAS_NAME_CHARS = re.compile(r"[A-Za-z0-9 _+.:/@-]")
LOGIN_CHARS = ALIAS_ID_CHARS

ALIAS_ID_LENGTH = (2, 20)
# VICIdial's add accepts a 1-character name but its update demands 2:
# requiring 2 keeps every alias editable.
ALIAS_NAME_LENGTH = (2, 50)
LOGINS_JOINED_LENGTH = (2, 255)
# VICIdial 2.14 declares phones.login VARCHAR(15): no longer login can exist there.
LOGIN_MAX_LENGTH = 15


def describe_character(char: str) -> str:
    if char == " ":
        return "space"
    if char.isprintable():
        return f"'{char}'"
    return f"U+{ord(char):04X}"


def _reject_foreign_characters(value: str, allowed: re.Pattern[str], what: str) -> None:
    bad = sorted({char for char in value if not allowed.fullmatch(char)}, key=value.index)
    if bad:
        listed = ", ".join(describe_character(char) for char in bad)
        raise ValidationError(
            "%(what)s contains characters VICIdial would silently delete: %(listed)s.",
            code="invalid_characters",
            params={"what": what, "listed": listed},
        )


def _require_length(value: str, bounds: tuple[int, int], what: str) -> None:
    low, high = bounds
    if not low <= len(value) <= high:
        raise ValidationError(
            "%(what)s must be %(low)d to %(high)d characters long (it is %(length)d).",
            code="length",
            params={"what": what, "low": low, "high": high, "length": len(value)},
        )


def validate_alias_id(value: str) -> None:
    _reject_foreign_characters(value, ALIAS_ID_CHARS, "Alias ID")
    _require_length(value, ALIAS_ID_LENGTH, "Alias ID")


def validate_alias_name(value: str) -> None:
    _reject_foreign_characters(value, ALIAS_NAME_CHARS, "Alias name")
    _require_length(value, ALIAS_NAME_LENGTH, "Alias name")
    if value != value.strip(" "):
        raise ValidationError(
            "Alias name must not start or end with a space.", code="surrounding_space"
        )


def same_logins(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether two lists name the same phone logins as VICIdial compares them: without
    regard to letter case or order (a login listed twice still counts twice)."""
    return sorted(login.lower() for login in first) == sorted(login.lower() for login in second)


def parse_phone_logins(text: str) -> list[str]:
    """Split a comma-separated list of phone logins and check it the way VICIdial would.

    Whitespace around each login is the list's own formatting and is dropped; anything
    inside a login must be a character VICIdial keeps.
    """
    logins = [part.strip() for part in text.replace("\r\n", "\n").replace("\n", ",").split(",")]
    if logins == [""]:
        raise ValidationError("Enter at least one phone login.", code="required")
    if "" in logins:
        raise ValidationError(
            "The list has an empty entry (two commas in a row, or a trailing comma); "
            "VICIdial would report it as a phone that does not exist.",
            code="empty_login",
        )
    for login in logins:
        _reject_foreign_characters(login, LOGIN_CHARS, f"Phone login {login!r}")
        _require_length(login, (1, LOGIN_MAX_LENGTH), f"Phone login {login[:20]!r}…")
    seen: dict[str, str] = {}
    for login in logins:
        if login.lower() in seen:
            raise ValidationError(
                "Phone login %(login)s is listed twice (VICIdial compares logins "
                "without regard to letter case: %(first)s).",
                code="duplicate_login",
                params={"login": login, "first": seen[login.lower()]},
            )
        seen[login.lower()] = login
    _require_length(",".join(logins), LOGINS_JOINED_LENGTH, "The phone login list")
    return logins


def is_phone_login(value: str) -> bool:
    """Whether `value` could be one phone login: what history pages and filters accept."""
    return 0 < len(value) <= LOGIN_MAX_LENGTH and all(LOGIN_CHARS.fullmatch(c) for c in value)


def validate_phone_login(value: str) -> None:
    if not is_phone_login(value):
        raise ValidationError(
            "A phone login is 1 to %(most)d letters, digits, - or _.",
            code="invalid_login",
            params={"most": LOGIN_MAX_LENGTH},
        )


def is_posted_id(value: str) -> bool:
    """A row id as a form posts it: ASCII digits ("²".isdigit() is true too), short enough
    for a 64-bit key, so int() and the query can neither raise nor overflow."""
    return value.isascii() and value.isdigit() and len(value) <= 18
