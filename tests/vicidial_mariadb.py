"""A real MariaDB shaped like VICIdial's `asterisk` database, one throwaway database per test,
read by the portal through an account that may only SELECT (as a deployment would)."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
import pytest

from aliases.simulator.schema import VICIDIAL_TABLES

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@dataclass
class VicidialMariaDB:
    admin: pymysql.connections.Connection
    database: str
    url: str  # the portal's read-only URL
    password: str
    writer_url: str  # full rights, for the simulator that plays VICIdial itself

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.admin.cursor() as cursor:
            cursor.execute(f"USE `{self.database}`")
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def add_phone(
        self, login: str, extension: str = "", protocol: str = "SIP", server_ip: str = "10.0.0.5"
    ) -> None:
        self.execute(
            "INSERT INTO phones (login, extension, protocol, server_ip) VALUES (%s, %s, %s, %s)",
            (login, extension or login, protocol, server_ip),
        )

    def remove_phone(self, login: str) -> None:
        self.execute("DELETE FROM phones WHERE login = %s", (login,))

    def add_alias(self, alias_id: str, alias_name: str, logins_list: str) -> None:
        self.execute(
            "INSERT INTO phones_alias (alias_id, alias_name, logins_list) VALUES (%s, %s, %s)",
            (alias_id, alias_name, logins_list),
        )

    def remove_alias(self, alias_id: str) -> None:
        self.execute("DELETE FROM phones_alias WHERE alias_id = %s", (alias_id,))

    def alias(self, alias_id: str) -> tuple | None:
        rows = self.execute(
            "SELECT alias_id, alias_name, logins_list, user_group FROM phones_alias "
            "WHERE alias_id = %s",
            (alias_id,),
        )
        return rows[0] if rows else None


def _connect_admin() -> pymysql.connections.Connection:
    try:
        return pymysql.connect(**MARIADB, autocommit=True, connect_timeout=3)
    except pymysql.MySQLError as error:
        pytest.fail(
            f"These tests need MariaDB on 127.0.0.1:3306 (root, empty password): {error}. "
            "Start it with: start-stop-daemon --start --oknodo --background "
            "--exec /usr/sbin/mariadbd",
            pytrace=False,
        )


@pytest.fixture
def vicidial_db() -> Iterator[VicidialMariaDB]:
    admin = _connect_admin()
    suffix = secrets.token_hex(6)
    database = f"portal_test_vici_{suffix}"
    user = f"portal_ro_{suffix}"
    password = "Pw-" + secrets.token_urlsafe(12)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}`")
            cursor.execute(f"USE `{database}`")
            for table in VICIDIAL_TABLES:
                cursor.execute(table)
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            for table in ("phones", "phones_alias"):
                cursor.execute(f"GRANT SELECT ON `{database}`.{table} TO %s@'%%'", (user,))
        yield VicidialMariaDB(
            admin=admin,
            database=database,
            url=f"mysql://{user}:{password}@127.0.0.1:3306/{database}",
            password=password,
            writer_url=f"mysql://root@127.0.0.1:3306/{database}",
        )
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        admin.close()
