"""Where an audited action came from."""

import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.http import HttpRequest

from ..models import AuditEvent

USER_AGENT_LENGTH = AuditEvent._meta.get_field("user_agent").max_length


@dataclass(frozen=True)
class AuditContext:
    """Where an action came from; one per user action, so its events share a correlation id."""

    source_ip: str = ""
    user_agent: str = ""
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_request(cls, request: HttpRequest) -> "AuditContext":
        cached = getattr(request, "_audit_context", None)
        if cached is None:
            cached = cls(
                source_ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_LENGTH],
                # The request id (aliases/request_id.py): the request's log lines carry it.
                correlation_id=getattr(request, "request_id", "") or uuid.uuid4().hex,
            )
            request._audit_context = cached
        return cached

    @classmethod
    def system(cls, what: str) -> "AuditContext":
        return cls(user_agent=what[:USER_AGENT_LENGTH])


def client_ip(request: HttpRequest) -> str:
    if settings.AUDIT_TRUST_X_FORWARDED_FOR:
        # The proxy appends the address it saw; earlier entries are the client's to forge.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()[:45]
    return request.META.get("REMOTE_ADDR", "")[:45]
