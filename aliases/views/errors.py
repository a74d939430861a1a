from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from ..signals import record_permission_denied


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    record_permission_denied(request, str(exception or "") or "permission denied")
    body = render_to_string("403.html", {"reason": str(exception or "")}, request=request)
    return HttpResponse(body, status=403)
