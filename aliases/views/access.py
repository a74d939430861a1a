"""How views ask the predicates: a role gate (403) and the one way to fetch a request (404)."""

from collections.abc import Callable
from functools import wraps

import rules
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from .. import selectors
from ..errors import refusal_text
from ..models import AliasRequest

View = Callable[..., HttpResponse]


def role_required(rule: rules.Predicate) -> Callable[[View], View]:
    """Anonymous users go to the login page; users whose role lacks `rule` get a 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not rule.test(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(checked)

    return decorator


def get_request_for_user(request: HttpRequest, pk: int) -> AliasRequest:
    """Outsiders get the same 404 as for an id that does not exist (predicates.sees_request)."""
    return get_object_or_404(selectors.alias_requests_visible_to(user=request.user), pk=pk)


def report_failure(request: HttpRequest, error: Exception) -> None:
    """A refused action's message: a form's errors, or the service's own words."""
    messages.error(request, refusal_text(error))
