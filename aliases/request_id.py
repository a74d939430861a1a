"""One id per request, and per task run for an action: it is in every log line
(portal/logs.py), in the X-Request-ID response header and, as the correlation id, in every
audit event the action writes; so a log line leads to its audit events, and back."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from django.conf import settings
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
LOG_KEY = "request_id"
# A token, never text: it is logged and stored as the correlation id (32 characters at most),
# which searches match in lower case.
SAFE_INCOMING = re.compile(r"[A-Za-z0-9-]{8,32}")
# The 36-character form Envoy and Heroku send, kept as its 32 hex digits.
UUID_INCOMING = re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def incoming_request_id(request: HttpRequest) -> str:
    """The id a trusted proxy sent, or "". A client could otherwise give its own audit
    events the correlation id of someone else's action."""
    if not settings.TRUST_X_REQUEST_ID:
        return ""
    sent = request.headers.get(HEADER, "")
    if UUID_INCOMING.fullmatch(sent):
        return uuid.UUID(sent).hex
    return sent.lower() if SAFE_INCOMING.fullmatch(sent) else ""


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = incoming_request_id(request) or new_request_id()
        # Nothing bound by an earlier request on this thread carries over.
        structlog.contextvars.clear_contextvars()
        # Unbound only when the response is closed (below): Django logs a 4xx response after
        # the middleware returns, and gunicorn writes its access line after that.
        structlog.contextvars.bind_contextvars(**{LOG_KEY: request.request_id})
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response


def _forget_request_id(**kwargs) -> None:
    structlog.contextvars.unbind_contextvars(LOG_KEY)


request_finished.connect(_forget_request_id, dispatch_uid="aliases.request_id.forget")


@contextmanager
def correlation_id_bound(correlation_id: str) -> Iterator[None]:
    """While a task runs for an action, its log lines carry that action's id (the worker
    has no request of its own)."""
    with structlog.contextvars.bound_contextvars(**{LOG_KEY: correlation_id}):
        yield
