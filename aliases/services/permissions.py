import rules
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied

from ..models import AliasRequest


def require(
    actor: AbstractBaseUser,
    rule: rules.Predicate,
    action: str,
    alias_request: AliasRequest | None = None,
) -> None:
    """Services ask the predicates themselves, whichever view, action or command called them."""
    if not actor.is_active or not rule.test(actor, alias_request):
        raise PermissionDenied(f"You are not allowed to {action}.")
