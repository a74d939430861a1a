from django.http import HttpRequest

from .roles import Role, roles_of
from .services import vicidial_circuits_open


def portal_roles(request: HttpRequest) -> dict[str, object]:
    roles = roles_of(request.user)
    context: dict[str, object] = {
        "is_supervisor": Role.SUPERVISOR in roles,
        "is_admin": Role.ADMIN in roles,
        "is_auditor": Role.AUDITOR in roles,
    }
    if Role.ADMIN in roles or Role.AUDITOR in roles:
        context["open_circuits"] = vicidial_circuits_open()
    return context
