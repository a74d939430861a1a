"""Personas and helpers shared by the tests."""

import functools
import threading
from collections.abc import Callable

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import connections

from aliases.models import AliasRequest
from aliases.role_permissions import ROLE_PERMISSIONS, grant
from aliases.roles import Role
from aliases.services import alias_request_submit

PASSWORD = "correct horse battery staple"

PERSONAS = {
    "supervisor": [Role.SUPERVISOR],
    "supervisor2": [Role.SUPERVISOR],
    "admin": [Role.ADMIN],
    "admin2": [Role.ADMIN],
    "auditor": [Role.AUDITOR],
    "outsider": [],
}


@functools.cache
def _hashed_password() -> str:
    # One hash for every test user: hashing is the slow part of create_user, and one salt
    # serves as well as many for log-ins.
    return make_password(PASSWORD)


def make_users(personas: dict[str, list[Role]]) -> dict[str, AbstractBaseUser]:
    """Users with these roles, in four queries whatever their number (a test's `users` fixture
    builds six); the same rows as `create_user` and `groups.set` would write."""
    # Transactional tests flush the tables, groups made by data migrations included.
    if Group.objects.count() < len(ROLE_PERMISSIONS):
        grant(apps, ROLE_PERMISSIONS)
    user_model = get_user_model()
    created = user_model.objects.bulk_create(
        user_model(
            username=username,
            email=f"{username}@example.com",
            password=_hashed_password(),
            is_staff=Role.ADMIN in roles or Role.AUDITOR in roles,
        )
        for username, roles in personas.items()
    )
    groups = {group.name: group for group in Group.objects.all()}
    membership = user_model.groups.through
    membership.objects.bulk_create(
        membership(user_id=user.pk, group_id=groups[role.value].pk)
        for user, roles in zip(created, personas.values(), strict=True)
        for role in roles
    )
    return {user.username: user for user in created}


def make_user(username: str, roles: list[Role]) -> AbstractBaseUser:
    return make_users({username: roles})[username]


def submit(
    requester: AbstractBaseUser,
    alias_id: str = "sales_desk",
    alias_name: str = "Sales desk",
    logins: str = "1001,1002",
    justification: str = "New sales team needs one number.",
) -> AliasRequest:
    return alias_request_submit(
        requester=requester,
        alias_id=alias_id,
        alias_name=alias_name,
        phone_logins=logins,
        justification=justification,
    )


def race(count: int, action: Callable[[int], object]) -> list[object]:
    """Run `action(index)` in `count` threads released together; each has its own connection."""
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = action(index)
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def logins_of_event(number: int) -> list[str]:
    """The extensions of the paging and export tests' event `number`: 3001 in three
    spellings, alone or beside another phone, and some events about other phones only."""
    if number % 7 == 3:
        return ["4001"]
    if number % 5 == 0:
        return ["Ext3001", "4001"]
    if number % 2:
        return ["ext3001"]
    return ["5001", "EXT3001"]
