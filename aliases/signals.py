"""Log-ins, log-outs and refusals reach the audit trail through Django's own hooks."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from .audit import AuditContext, EventType, record
from .login_throttle import Lock, lock_refusing
from .models import AuditEvent


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


REFUSED_REASONS = {
    Lock.USERNAME_AT_ADDRESS: "too many failed log-ins for this username from this address",
    Lock.ADDRESS: "too many failed log-ins from this address, across usernames",
}


def _refusal_recorded(lock: Lock, username: str, context: AuditContext) -> bool:
    """Whether this lock's refusals were recorded within the last cool-off period."""
    earlier = AuditEvent.objects.filter(
        event_type=EventType.LOGIN_FAILED,
        outcome="locked_out",
        source_ip=context.source_ip,
        occurred_at__gt=timezone.now() - settings.AXES_COOLOFF_TIME,
    )
    if lock == Lock.USERNAME_AT_ADDRESS:
        earlier = earlier.filter(actor_username=username)
    return earlier.exists()


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django already scrubs the password from `credentials`; only the username is kept.
    username = str(credentials.get("username", ""))[:150]
    context = _context(request) or AuditContext()
    # Throttle first, then record: every event takes the chain head, so a flood of refused
    # log-ins must not become a flood of writes that every real action queues behind.
    lock = lock_refusing(request)
    if lock is not None and _refusal_recorded(lock, username, context):
        return
    if lock is not None:
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        outcome = "locked_out"
        reason = (
            f"{REFUSED_REASONS[lock]}; refused without checking the password. Further "
            f"refusals by this lock are recorded at most once every {minutes} minutes."
        )
    elif getattr(request, "axes_locked_out", False):
        outcome, reason = "failed", "wrong username or password; this failure set off the lock"
    else:
        outcome, reason = "failed", "wrong username or password"
    with transaction.atomic():
        record(
            event_type=EventType.LOGIN_FAILED,
            context=context,
            actor_username=username,
            outcome=outcome,
            reason=reason,
            changes={"lock": lock.value} if lock is not None else None,
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
