"""The three portal roles, each a Django group whose permissions a data migration sets."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models


class Role(models.TextChoices):
    SUPERVISOR = "Supervisors", "Supervisor"
    ADMIN = "Admins", "Admin"
    AUDITOR = "Auditors", "Auditor"


def roles_of(user: AbstractBaseUser | AnonymousUser) -> list[Role]:
    if not user.is_authenticated:
        return []
    names = {group.name for group in user.groups.all()}
    return [role for role in Role if role.value in names]


def role_label(user: AbstractBaseUser | AnonymousUser) -> str:
    """The user's roles as one label, as recorded next to their actions."""
    labels = [role.label for role in roles_of(user)]
    if getattr(user, "is_superuser", False):
        labels.append("Superuser")
    return "+".join(labels) or "none"
