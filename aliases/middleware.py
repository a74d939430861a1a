from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from .views.health import healthz, healthz_live


class RejectNulMiddleware:
    """Answers 400 to a query or form value holding NUL.

    PostgreSQL text cannot hold NUL; such a value would otherwise surface as a 500 from
    whichever query first carries it (the admin's list filters do not validate their input).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for data in (request.GET, request.POST):
            for key, values in data.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    return HttpResponseBadRequest("NUL characters are not accepted.")
        return self.get_response(request)


class HealthzMiddleware:
    """Answers /healthz and /healthz/live before any other middleware runs.

    Load balancers and Docker's HEALTHCHECK probe over plain http by address, which neither
    SECURE_SSL_REDIRECT nor ALLOWED_HOSTS would let through; and the answer must be a 503
    while PostgreSQL is down, which no session, auth or axes middleware may get in the way of.
    The answer uses nothing of the request but its path.
    """

    VIEWS = {"/healthz": healthz, "/healthz/live": healthz_live}

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.VIEWS.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)
