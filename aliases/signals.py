"""Log-ins, log-outs and refusals reach the audit trail through Django's own hooks."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from .audit import AuditContext, EventType, record


def _context(request) -> AuditContext | None:
    return AuditContext.from_request(request) if request is not None else None


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs) -> None:
    with transaction.atomic():
        record(event_type=EventType.LOGIN_SUCCEEDED, actor=user, context=_context(request))


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    with transaction.atomic():
        record(event_type=EventType.LOGOUT, actor=user, context=_context(request))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django already scrubs the password from `credentials`; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    locked_out = getattr(request, "axes_locked_out", False)
    with transaction.atomic():
        record(
            event_type=EventType.LOGIN_FAILED,
            context=_context(request),
            actor_username=username,
            outcome="locked_out" if locked_out else "failed",
            reason="too many failed log-ins from this address; refused without checking"
            if locked_out
            else "wrong username or password",
        )


def record_permission_denied(request, reason: str) -> None:
    with transaction.atomic():
        record(
            event_type=EventType.PERMISSION_DENIED,
            actor=request.user,
            context=AuditContext.from_request(request),
            outcome="denied",
            reason=f"{request.method} {request.path}: {reason}"[:1000],
        )
