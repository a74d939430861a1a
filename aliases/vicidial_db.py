"""The one module that reads VICIdial's MySQL/MariaDB database.

It only ever SELECTs, from `phones` and `phones_alias`; writes to VICIdial go through its
HTTP API (aliases/vicidial/). The account needs nothing beyond SELECT on those two tables.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

import pymysql

from .errors import PortalError

VICIDIAL_DB_SCHEMES = {"mysql", "mariadb"}
VICIDIAL_DB_CONNECT_TIMEOUT = 5
VICIDIAL_DB_READ_TIMEOUT = 30
# Seconds a page waits at most for VICIdial's database (pre-flight checks, extension pages).
PAGE_READ_TIMEOUT = 2.0

# login, extension, protocol, server_ip; NULLs read as "".
Phone = tuple[str, str, str, str]


class VicidialDatabaseError(PortalError):
    pass


@dataclass(frozen=True)
class VicidialDatabase:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str = ""

    @classmethod
    def from_url(cls, url: str) -> "VicidialDatabase":
        shape = "mysql://user:password@host:3306/asterisk"
        try:
            parts = urlsplit(url)
            port = parts.port or 3306
        except ValueError:
            raise VicidialDatabaseError(
                f"The VICIdial database URL must look like {shape}."
            ) from None
        database = unquote(parts.path.lstrip("/"))
        if parts.scheme not in VICIDIAL_DB_SCHEMES or not parts.hostname or not database:
            raise VicidialDatabaseError(f"The VICIdial database URL must look like {shape}.")
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=database,
        )

    def __str__(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def password_is_sendable(self) -> bool:
        """The driver encodes the password as Latin-1, and its error would quote it."""
        try:
            self.password.encode("latin-1")
        except UnicodeEncodeError:
            return False
        return True

    def scrub(self, text: str) -> str:
        """Remove the password from text that might echo it (driver errors, URLs)."""
        if not self.password:
            return text
        for form in sorted({self.password, quote(self.password, safe="")}, key=len, reverse=True):
            text = text.replace(form, "***")
        return text


class VicidialAliasRow(NamedTuple):
    """A row of VICIdial's phones_alias, as stored (NULLs read as "")."""

    alias_id: str
    alias_name: str
    logins_list: str
    user_group: str

    @property
    def logins(self) -> list[str]:
        """The logins as VICIdial lists them; empty elements dropped."""
        return [login for login in self.logins_list.split(",") if login]

    def as_evidence(self) -> dict[str, str]:
        return self._asdict()


def _read(
    target: VicidialDatabase,
    what: str,
    run: Callable[[Any], list],
    *,
    connect_timeout: float = VICIDIAL_DB_CONNECT_TIMEOUT,
    read_timeout: float = VICIDIAL_DB_READ_TIMEOUT,
) -> list:
    if not target.password_is_sendable:
        raise VicidialDatabaseError(
            f"Cannot read {what} from {target}: the password holds a character the MySQL "
            "driver cannot send (it sends Latin-1 only). Give the account another password."
        )
    try:
        connection = pymysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            database=target.database,
            charset="utf8mb4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        try:
            with connection.cursor() as cursor:
                return run(cursor)
        finally:
            connection.close()
    except (pymysql.MySQLError, OSError) as error:
        detail = error.args[1] if len(error.args) == 2 else str(error)
        # `from None`: the driver's exception is not shown, so nothing it held can leak.
        raise VicidialDatabaseError(
            target.scrub(f"Cannot read {what} from {target}: {detail}")
        ) from None
    except Exception as error:  # noqa: BLE001 - any other failure, shown without its chain
        raise VicidialDatabaseError(
            target.scrub(f"Cannot read {what} from {target}: {type(error).__name__}: {error}")
        ) from None


def _text_rows(cursor) -> list[tuple[str, ...]]:
    return [tuple("" if v is None else str(v) for v in row) for row in cursor]


def fetch_phones(target: VicidialDatabase) -> list[Phone]:
    def run(cursor):
        cursor.execute(
            "SELECT login, extension, protocol, server_ip FROM phones "
            "ORDER BY login, extension, server_ip"
        )
        return _text_rows(cursor)

    return _read(target, "phones", run)


def fetch_aliases(target: VicidialDatabase) -> list[VicidialAliasRow]:
    """Every row of phones_alias, by alias ID."""

    def run(cursor):
        cursor.execute(
            "SELECT alias_id, alias_name, logins_list, user_group FROM phones_alias "
            "ORDER BY alias_id"
        )
        return [VicidialAliasRow(*row) for row in _text_rows(cursor)]

    return _read(target, "phones_alias", run)


def fetch_aliases_ringing(
    target: VicidialDatabase, login: str, *, timeout: float = PAGE_READ_TIMEOUT
) -> list[VicidialAliasRow]:
    """The phones_alias rows whose logins_list names `login` (ignoring case, as VICIdial's
    collation compares): one indexed-free scan in the database, not the table over the wire."""
    pattern = "%," + login.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ",%"

    def run(cursor):
        cursor.execute(
            "SELECT alias_id, alias_name, logins_list, user_group FROM phones_alias "
            "WHERE CONCAT(',', logins_list, ',') LIKE %s ORDER BY alias_id",
            (pattern,),
        )
        return [VicidialAliasRow(*row) for row in _text_rows(cursor)]

    return _read(target, "phones_alias", run, connect_timeout=timeout, read_timeout=timeout)


def fetch_alias(
    target: VicidialDatabase, alias_id: str, *, timeout: float | None = None
) -> VicidialAliasRow | None:
    """The phones_alias row of one alias ID, matched as VICIdial matches it (its column's
    case-insensitive collation), or None. `timeout` bounds the connection and the read, for
    a page that must not hang on an unreachable database."""

    def run(cursor):
        cursor.execute(
            "SELECT alias_id, alias_name, logins_list, user_group FROM phones_alias "
            "WHERE alias_id = %s",
            (alias_id,),
        )
        return [VicidialAliasRow(*row) for row in _text_rows(cursor)]

    limits = {} if timeout is None else {"connect_timeout": timeout, "read_timeout": timeout}
    rows = _read(target, "phones_alias", run, **limits)
    return rows[0] if rows else None


def fetch_phone_logins(target: VicidialDatabase) -> set[str]:
    """Every phones.login, lower-cased: VICIdial compares logins without regard to case."""

    def run(cursor):
        cursor.execute("SELECT login FROM phones")
        return [row[0] for row in _text_rows(cursor)]

    return {login.lower() for login in _read(target, "phones", run)}
