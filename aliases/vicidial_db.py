"""The one module that reads VICIdial's MySQL/MariaDB database.

It only ever SELECTs from `phones`; writes to VICIdial go through its HTTP API (vicidial.py).
"""

from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

import pymysql

from .errors import PortalError

VICIDIAL_DB_SCHEMES = {"mysql", "mariadb"}
VICIDIAL_DB_CONNECT_TIMEOUT = 5
VICIDIAL_DB_READ_TIMEOUT = 30

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

    def scrub(self, text: str) -> str:
        """Remove the password from text that might echo it (driver errors, URLs)."""
        if not self.password:
            return text
        for form in sorted({self.password, quote(self.password, safe="")}, key=len, reverse=True):
            text = text.replace(form, "***")
        return text


def fetch_phones(target: VicidialDatabase) -> list[Phone]:
    try:
        connection = pymysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password,
            database=target.database,
            charset="utf8mb4",
            connect_timeout=VICIDIAL_DB_CONNECT_TIMEOUT,
            read_timeout=VICIDIAL_DB_READ_TIMEOUT,
        )
        try:
            with connection.cursor() as cursor:
                # A single SELECT: the account needs no privilege beyond SELECT on phones.
                cursor.execute(
                    "SELECT login, extension, protocol, server_ip FROM phones "
                    "ORDER BY login, extension, server_ip"
                )
                return [tuple("" if v is None else str(v) for v in row) for row in cursor]
        finally:
            connection.close()
    except (pymysql.MySQLError, OSError) as error:
        detail = error.args[1] if len(error.args) == 2 else str(error)
        # `from None`: the driver's exception is not shown, so nothing it held can leak.
        raise VicidialDatabaseError(
            target.scrub(f"Cannot read phones from {target}: {detail}")
        ) from None
