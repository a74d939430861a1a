from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


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
