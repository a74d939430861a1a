"""Where the simulated VICIdial keeps its phones and aliases: in memory (the default, for speed),
or in a MariaDB database with VICIdial's own tables, so that the portal's read-only database
reads (aliases/vicidial_db.py) and the API answers see one and the same VICIdial.

Both stores offer the same small interface. `phones` and `aliases` are mappings keyed by the
lower-cased login / alias ID, as MySQL's case-insensitive collation compares them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import replace
from typing import Any, TypeVar

import pymysql

from aliases.vicidial_db import VicidialDatabase

from .records import SimAlias, SimPhone
from .schema import VICIDIAL_TABLES

T = TypeVar("T")
UNKNOWN_DATABASE = 1049
CONNECT_TIMEOUT = 5


class StoreError(Exception):
    """The database refused or failed a statement: VICIdial's PHP dies with HTTP 500."""


class MemoryStore:
    def __init__(self) -> None:
        self.phones: dict[str, SimPhone] = {}
        self.aliases: dict[str, SimAlias] = {}

    def put_phone(self, phone: SimPhone) -> None:
        self.phones[phone.login.lower()] = phone

    def has_phone(self, login: str) -> bool:
        return login.lower() in self.phones

    def alias(self, alias_id: str) -> SimAlias | None:
        return self.aliases.get(alias_id.lower())

    def put_alias(self, alias: SimAlias) -> None:
        self.aliases[alias.alias_id.lower()] = alias

    def update_alias(self, alias_id: str, columns: dict[str, str]) -> None:
        key = alias_id.lower()
        self.aliases[key] = replace(self.aliases[key], **columns)

    def delete_alias(self, alias_id: str) -> None:
        self.aliases.pop(alias_id.lower(), None)

    def clear_aliases(self) -> None:
        self.aliases.clear()

    def close(self) -> None:
        pass

    def __str__(self) -> str:
        return "memory"


class MariaDBStore:
    """VICIdial's `phones` and `phones_alias` in a MariaDB database (created if missing).

    One autocommit connection, used under a lock: the simulator's threads and the test thread
    share it, and every statement stands alone as VICIdial's own do.
    """

    def __init__(self, url: str, *, strict_sql: bool = True) -> None:
        self.target = VicidialDatabase.from_url(url)
        if "`" in self.target.database:  # it is quoted with backticks in CREATE DATABASE
            raise StoreError(f"{self.target.database!r} is not a database name the simulator uses.")
        self.strict_sql = strict_sql
        self._lock = threading.RLock()
        self._connection = self._connect()
        self.phones = _PhonesTable(self)
        self.aliases = _AliasesTable(self)

    def _connect(self) -> pymysql.connections.Connection:
        try:
            return self._prepared(self._open_creating())
        except pymysql.MySQLError as error:
            # `from None`, and scrubbed: the driver's error may hold the password.
            raise StoreError(self.target.scrub(f"Cannot use {self.target}: {error}")) from None

    def _open_creating(self) -> pymysql.connections.Connection:
        try:
            return self._open(self.target.database)
        except pymysql.MySQLError as error:
            if error.args[0] != UNKNOWN_DATABASE:
                raise
        connection = self._open(None)
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{self.target.database}`")
            cursor.execute(f"USE `{self.target.database}`")
        return connection

    def _prepared(
        self, connection: pymysql.connections.Connection
    ) -> pymysql.connections.Connection:
        with connection.cursor() as cursor:
            # Strict: an over-long value fails the statement; lenient: MySQL truncates it.
            mode = "STRICT_TRANS_TABLES" if self.strict_sql else ""
            cursor.execute("SET SESSION sql_mode = %s", (mode,))
            for table in VICIDIAL_TABLES:
                cursor.execute(table)
        return connection

    def _open(self, database: str | None) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.target.host,
            port=self.target.port,
            user=self.target.user,
            password=self.target.password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
        )

    def run(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            try:
                with self._live_connection().cursor() as cursor:
                    return work(cursor)
            except pymysql.MySQLError as error:
                raise StoreError(self.target.scrub(str(error))) from None

    def _live_connection(self) -> pymysql.connections.Connection:
        # A long demo outlives MariaDB's wait_timeout: connect again rather than fail.
        try:
            self._connection.ping(reconnect=False)
        except pymysql.MySQLError:
            self._connection = self._connect()
        return self._connection

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        def work(cursor) -> list[tuple]:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

        return self.run(work)

    def put_phone(self, phone: SimPhone) -> None:
        def work(cursor) -> None:
            # Keyed by login, as the memory store: adding a login again replaces its phone.
            cursor.execute("DELETE FROM phones WHERE login = %s", (phone.login,))
            cursor.execute(
                "INSERT INTO phones (login, extension, protocol, server_ip, active) "
                "VALUES (%s, %s, %s, %s, 'Y')",
                (phone.login, phone.extension, phone.protocol, phone.server_ip),
            )

        self.run(work)

    def has_phone(self, login: str) -> bool:
        return bool(self.execute("SELECT 1 FROM phones WHERE login = %s LIMIT 1", (login,)))

    def alias(self, alias_id: str) -> SimAlias | None:
        rows = self.execute(
            "SELECT alias_id, alias_name, logins_list, user_group FROM phones_alias "
            "WHERE alias_id = %s",
            (alias_id,),
        )
        return _alias_from_row(rows[0]) if rows else None

    def put_alias(self, alias: SimAlias) -> None:
        self.execute(
            "INSERT INTO phones_alias (alias_id, alias_name, logins_list, user_group) "
            "VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE alias_name = VALUES(alias_name), "
            "logins_list = VALUES(logins_list), user_group = VALUES(user_group)",
            (alias.alias_id, alias.alias_name, alias.logins_list, alias.user_group),
        )

    def update_alias(self, alias_id: str, columns: dict[str, str]) -> None:
        # Only the columns sent, as VICIdial's UPDATE; names come from COLUMN_WIDTHS, never input.
        assignments = ", ".join(f"{name} = %s" for name in columns)
        self.execute(
            f"UPDATE phones_alias SET {assignments} WHERE alias_id = %s",  # noqa: S608
            (*columns.values(), alias_id),
        )

    def delete_alias(self, alias_id: str) -> None:
        self.execute("DELETE FROM phones_alias WHERE alias_id = %s", (alias_id,))

    def clear_aliases(self) -> None:
        self.execute("DELETE FROM phones_alias")

    def close(self) -> None:
        with self._lock:
            if self._connection.open:
                self._connection.close()

    def __str__(self) -> str:
        return f"MariaDB {self.target}"


def _alias_from_row(row: tuple) -> SimAlias:
    return SimAlias(*("" if value is None else str(value) for value in row))


class _PhonesTable(MutableMapping[str, SimPhone]):
    """`phones` as a mapping by lower-cased login, for code written against the memory store."""

    def __init__(self, store: MariaDBStore) -> None:
        self.store = store

    def __getitem__(self, login: str) -> SimPhone:
        rows = self.store.execute(
            "SELECT login, extension, protocol, server_ip FROM phones WHERE login = %s LIMIT 1",
            (login,),
        )
        if not rows:
            raise KeyError(login)
        return SimPhone(*("" if value is None else str(value) for value in rows[0]))

    def __contains__(self, login: object) -> bool:
        return isinstance(login, str) and self.store.has_phone(login)

    def __iter__(self) -> Iterator[str]:
        rows = self.store.execute(
            "SELECT DISTINCT LOWER(login) FROM phones WHERE login IS NOT NULL"
        )
        return iter([row[0] for row in rows])

    def __len__(self) -> int:
        rows = self.store.execute("SELECT COUNT(DISTINCT login) FROM phones")
        return int(rows[0][0])

    def __setitem__(self, login: str, phone: SimPhone) -> None:
        self.store.put_phone(phone)

    def __delitem__(self, login: str) -> None:
        if not self.store.execute("SELECT 1 FROM phones WHERE login = %s", (login,)):
            raise KeyError(login)
        self.store.execute("DELETE FROM phones WHERE login = %s", (login,))


class _AliasesTable(MutableMapping[str, SimAlias]):
    """`phones_alias` as a mapping by lower-cased alias ID."""

    def __init__(self, store: MariaDBStore) -> None:
        self.store = store

    def __getitem__(self, alias_id: str) -> SimAlias:
        alias = self.store.alias(alias_id)
        if alias is None:
            raise KeyError(alias_id)
        return alias

    def __iter__(self) -> Iterator[str]:
        rows = self.store.execute("SELECT LOWER(alias_id) FROM phones_alias ORDER BY alias_id")
        return iter([row[0] for row in rows])

    def __len__(self) -> int:
        return int(self.store.execute("SELECT COUNT(*) FROM phones_alias")[0][0])

    def __setitem__(self, alias_id: str, alias: SimAlias) -> None:
        self.store.put_alias(alias)

    def __delitem__(self, alias_id: str) -> None:
        if self.store.alias(alias_id) is None:
            raise KeyError(alias_id)
        self.store.delete_alias(alias_id)

    def clear(self) -> None:
        self.store.clear_aliases()
