from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied


def require_perm(actor: AbstractBaseUser, perm: str, action: str) -> None:
    """Services check roles themselves too, whichever view, action or command called them."""
    if not actor.is_active or not actor.has_perm(perm):
        raise PermissionDenied(f"You are not allowed to {action}.")
