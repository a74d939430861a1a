import pytest
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
