"""A real MariaDB shaped like VICIdial's `asterisk` database, read by the portal through an
account that may only SELECT (as a deployment would).

Each test process makes one such database and account, and each test gets it back empty with
the schema as it was made: MariaDB's DDL (a database, its tables, an account and its grants)
costs a third of a second, more than most of these tests."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

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
    user: str = ""  # the read-only account
    # Each table's SHOW CREATE TABLE as made, to tell when a test dropped or altered one.
    definitions: dict[str, str] = field(default_factory=dict)

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


TABLES = ("phones", "phones_alias")


def _create_tables(cursor, database: str, user: str) -> None:
    cursor.execute(f"USE `{database}`")
    for table in VICIDIAL_TABLES:
        cursor.execute(table)
    for table in TABLES:
        cursor.execute(f"GRANT SELECT ON `{database}`.{table} TO %s@'%%'", (user,))


def _table_definitions(cursor, database: str) -> dict[str, str]:
    cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,)
    )
    found = {}
    for (table,) in cursor.fetchall():
        cursor.execute(f"SHOW CREATE TABLE `{database}`.`{table}`")
        found[table] = cursor.fetchone()[1]
    return found


@pytest.fixture(scope="session")
def vicidial_db_for_this_process() -> Iterator[VicidialMariaDB]:
    admin = _connect_admin()
    suffix = secrets.token_hex(6)
    database = f"portal_test_vici_{suffix}"
    user = f"portal_ro_{suffix}"
    password = "Pw-" + secrets.token_urlsafe(12)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}`")
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            _create_tables(cursor, database, user)
        made = VicidialMariaDB(
            admin=admin,
            database=database,
            url=f"mysql://{user}:{password}@127.0.0.1:3306/{database}",
            password=password,
            writer_url=f"mysql://root@127.0.0.1:3306/{database}",
            user=user,
        )
        with admin.cursor() as cursor:
            made.definitions = _table_definitions(cursor, database)
        yield made
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        admin.close()


@pytest.fixture
def vicidial_db(vicidial_db_for_this_process) -> VicidialMariaDB:
    """This process's database, emptied; tables a test dropped or altered are made again."""
    db = vicidial_db_for_this_process
    with db.admin.cursor() as cursor:
        if _table_definitions(cursor, db.database) != db.definitions:
            cursor.execute(f"DROP DATABASE `{db.database}`")
            cursor.execute(f"CREATE DATABASE `{db.database}`")
            _create_tables(cursor, db.database, db.user)
        for table in TABLES:
            cursor.execute(f"DELETE FROM `{db.database}`.{table}")  # noqa: S608 - our names
    return db
