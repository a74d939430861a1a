from django.http import HttpRequest

from .roles import Role, roles_of


def portal_roles(request: HttpRequest) -> dict[str, object]:
    roles = roles_of(request.user)
    return {
        "is_supervisor": Role.SUPERVISOR in roles,
        "is_admin": Role.ADMIN in roles,
        "is_auditor": Role.AUDITOR in roles,
    }
