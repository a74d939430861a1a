"""The three portal roles, each a Django group whose permissions a data migration sets."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models import Exists, OuterRef


class Role(models.TextChoices):
    SUPERVISOR = "Supervisors", "Supervisor"
    ADMIN = "Admins", "Admin"
    AUDITOR = "Auditors", "Auditor"


# Where roles_of keeps a user's roles, on the user object.
ROLES_CACHE = "_portal_roles"


def roles_of(user: AbstractBaseUser | AnonymousUser) -> list[Role]:
    """Read once per user object, as Django caches its permissions: every event of a step
    and the page's navbar share one query. A user object lives for one request or task."""
    if not user.is_authenticated:
        return []
    if getattr(user, ROLES_CACHE, None) is None:
        remember_roles(user, {group.name for group in user.groups.all()})
    return list(getattr(user, ROLES_CACHE))


def remember_roles(user: AbstractBaseUser, group_names: set[str]) -> None:
    """Keep on `user` the roles its groups (by name) give it, unless already known; also
    for auth_backends, which reads the group names with the permissions."""
    if getattr(user, ROLES_CACHE, None) is None:
        setattr(user, ROLES_CACHE, [role for role in Role if role.value in group_names])


def role_annotations(user_field: str) -> dict[str, Exists]:
    """Whether the user a row's `user_field` names holds each role, as annotations of that
    row's own query: a step that reads the row anyway then needs no query for the roles
    (remember_annotated_roles)."""
    from django.contrib.auth.models import Group  # here: this module loads before the apps

    return {
        f"_{user_field}_{role.name.lower()}": Exists(
            Group.objects.filter(user=OuterRef(user_field), name=role.value)
        )
        for role in Role
    }


def remember_annotated_roles(row: Any, user_field: str) -> None:
    """Keep on the user `row.<user_field>` the roles role_annotations() read with `row`."""
    user = getattr(row, user_field)
    if user is not None:
        names = {role.value for role in Role if getattr(row, f"_{user_field}_{role.name.lower()}")}
        remember_roles(user, names)


def role_label(user: AbstractBaseUser | AnonymousUser) -> str:
    """The user's roles as one label, as recorded next to their actions."""
    labels = [role.label for role in roles_of(user)]
    if getattr(user, "is_superuser", False):
        labels.append("Superuser")
    return "+".join(labels) or "none"
