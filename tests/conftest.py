import socket

import pytest
from django.db import connection
from django.test import Client

from .base import PERSONAS, make_user


@pytest.fixture
def users(db):
    return {name: make_user(name, roles) for name, roles in PERSONAS.items()}


@pytest.fixture
def client_for(users):
    def logged_in(name: str, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(users[name])
        return client

    return logged_in


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def django_db_dump(db):
    """Every row of every table as text, to search for values that must never be stored."""

    def dump() -> str:
        lines = []
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names():
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
                lines.extend(f"{table} {row!r}" for row in cursor.fetchall())
        return "\n".join(lines)

    return dump
