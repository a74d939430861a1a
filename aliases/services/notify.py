"""Who is emailed about what, and when: the requester about their request, the admins about
requests waiting for their decision and about calls to a server being stopped.

The request flow only enqueues a task, once its transaction commits; the worker composes
and sends (aliases/notifications.py). A mail server that is down then fails the task, and
is logged, but never undoes or blocks a decision or a call.
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from .. import notifications
from ..models import AliasRequest, PendingDigest, RequestBatch, VicidialCircuit
from ..predicates import decides_request, is_decider
from ..vicidial.redaction import redact
from ..vicidial.servers import raw_server_settings, server_names
from .task_queue import live_task_arguments

logger = logging.getLogger(__name__)

Status = AliasRequest.Status

# The "approved" email waits this long: a call that ends by then has its outcome's email
# (which names the approver) instead, so the requester gets one email, not two.
APPROVED_EMAIL_DELAY = timedelta(seconds=60)
OUTCOME_EVENTS = {
    Status.REJECTED: "rejected",
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "failed",
    Status.NEEDS_VERIFICATION: "needs_verification",
}


def requester_event(previous: str, status: str) -> str:
    """Which of the requester's emails a move from `previous` to `status` sends ("": none).
    A retry (needs verification to queued) is no decision on the request: no email."""
    if previous == Status.PENDING and status == Status.QUEUED:
        return "approved"
    if previous == Status.QUEUED and status == Status.CANCELLED:
        return "withdrawn"
    return OUTCOME_EVENTS.get(status, "")


def requester_notification_on_commit(alias_request: AliasRequest, previous: str) -> None:
    """Called by transition() for every status change, inside the step's transaction. A
    request of a bulk approval that has not ended yet sends nothing of its own: each of the
    approval's requesters gets one email when its calls are over (batch_requesters_notify),
    not one per request."""
    event = requester_event(previous, alias_request.status)
    if not event:
        return
    batch_id = alias_request.approval_batch_id
    if event != "rejected" and batch_id and _batch_not_yet_told(batch_id):
        transaction.on_commit(partial(_batch_outcome_check, batch_id), robust=True)
        return
    transaction.on_commit(
        partial(requester_notification_enqueue, alias_request.pk, event), robust=True
    )


def _batch_not_yet_told(batch_id: int) -> bool:
    return RequestBatch.objects.filter(pk=batch_id, requesters_notified_at__isnull=True).exists()


def _batch_outcome_check(batch_id: int) -> None:
    """After a batch request's step commits: once none of the batch waits for its call any
    more, its requesters are told (the task decides again, under the batch's lock)."""
    batch = RequestBatch.objects.get(pk=batch_id)
    if not batch.requests().filter(status__in=AliasRequest.ON_ITS_WAY).exists():
        notify_batch_requesters.enqueue(batch_id)


def batch_requesters_notify(batch_id: int) -> str:
    """The worker's side: email each requester of a bulk approval how its calls for them
    ended, once, when none waits any more."""
    with transaction.atomic():
        # NO KEY UPDATE: see bulk_approval._lock_approval_batch. Released before sending, so
        # a slow mail server holds no lock an approval waits for.
        batch = RequestBatch.objects.select_for_update(no_key=True).get(pk=batch_id)
        if batch.requesters_notified_at is not None:
            return "nothing to do: the requesters were told already"
        requests = list(batch.requests().select_related("requester").order_by("pk"))
        if any(alias_request.status in AliasRequest.ON_ITS_WAY for alias_request in requests):
            return "not yet: calls of the batch still wait"
        batch.requesters_notified_at = timezone.now()
        batch.save(update_fields=["requesters_notified_at"])
    by_requester: dict[int, list[AliasRequest]] = {}
    for alias_request in requests:
        by_requester.setdefault(alias_request.requester_id, []).append(alias_request)
    messages = [
        _message(theirs[0].requester, notifications.batch_outcomes(batch, theirs))
        for theirs in by_requester.values()
        if _reachable(theirs[0].requester)
    ]
    if messages:
        _send(messages)
    return f"told {len(messages)} requester(s)"


def requester_notification_enqueue(request_id: int, event: str) -> None:
    task = notify_requester
    if event == "approved" and task.get_backend().supports_defer:
        task = task.using(run_after=timezone.now() + APPROVED_EMAIL_DELAY)
    task.enqueue(request_id, event)


def requester_notify(request_id: int, event: str) -> str:
    """The worker's side: email the requester about `event` on their request."""
    alias_request = (
        AliasRequest.objects.select_related("requester", "decided_by").filter(pk=request_id).first()
    )
    if alias_request is None:
        return "nothing to do: no such request"
    if event == "approved" and alias_request.status not in AliasRequest.ON_ITS_WAY:
        return "skipped: the outcome's email tells of the approval"
    requester = alias_request.requester
    if not _reachable(requester):
        return "skipped: the requester has no email address"
    notification = notifications.requester_notification(alias_request, event)
    _send([_message(requester, notification)])
    return f"sent the {event} email"


def pending_digest_on_commit() -> None:
    """Called by each submission, inside its transaction: once it commits, the admins hear
    of the waiting requests. One digest task waits at a time, so the many submissions of
    an upload enqueue one."""
    transaction.on_commit(_pending_digest_enqueue, robust=True)


def _pending_digest_enqueue() -> None:
    task = notify_pending_admins
    if not _digest_already_waiting(task, user_id=None):
        task.enqueue()


def deciders() -> list[AbstractBaseUser]:
    """The active admins with an email address, as the decider predicate has them."""
    codename, app = "decide_aliasrequest", "aliases"
    holds = (
        Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app)
        | Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app)
        | Q(is_superuser=True)
    )
    User = get_user_model()
    candidates = (
        User.objects.filter(holds, is_active=True)
        .exclude(**{User.get_email_field_name(): ""})
        .distinct()
        .order_by("pk")
    )
    return [user for user in candidates if is_decider.test(user) and _reachable(user)]


def admins_notify_pending(user_id: int | None = None) -> str:
    """The worker's side: email each admin the requests waiting for their decision, at most
    once every NOTIFY_PENDING_EVERY. An admin emailed less than that ago gets a digest
    deferred to the end of their interval (`user_id`: that deferred digest)."""
    admins = deciders()
    if user_id is not None:
        admins = [admin for admin in admins if admin.pk == user_id]
    sent, deferred, failed = 0, 0, None
    for admin in admins:
        try:
            was_sent, due = _digest_send(admin)
        except Exception as error:  # noqa: BLE001 - the other admins still get theirs
            failed = failed or error
            continue
        sent += was_sent
        # A deferred digest that finds another one sent meanwhile has nothing left to do.
        if due is not None and user_id is None:
            deferred += _digest_defer(admin.pk, due)
    if failed is not None:
        raise failed
    return f"digest sent to {sent} admin(s), deferred for {deferred}"


def _digest_send(admin: AbstractBaseUser) -> tuple[bool, datetime | None]:
    """Send `admin` their digest if there is something to tell and it is due: (whether it
    was sent, when it is due if not yet). The admin's PendingDigest row is locked while
    deciding and sending, so of two workers exactly one sends."""
    with transaction.atomic():
        PendingDigest.objects.get_or_create(user=admin)
        digest = PendingDigest.objects.select_for_update().get(user=admin)
        # Read under the lock: a worker that waited for it sees what the first one sent.
        waiting = [
            alias_request
            for alias_request in AliasRequest.objects.filter(status=Status.PENDING)
            .select_related("requester")
            .order_by("created_at", "pk")
            if decides_request.test(admin, alias_request)
        ]
        if not waiting:
            return False, None
        now = timezone.now()
        if digest.last_sent_at is not None:
            due = digest.last_sent_at + settings.NOTIFY_PENDING_EVERY
            if now < due:
                return False, due
        _send([_message(admin, notifications.pending_digest(admin, waiting))])
        digest.last_sent_at = now
        digest.save(update_fields=["last_sent_at"])
    return True, None


def _digest_defer(user_id: int, due: datetime) -> int:
    """Enqueue the admin's digest for `due`, unless one already waits. A backend that cannot
    defer leaves it to the next submission after `due`."""
    task = notify_pending_admins
    if not task.get_backend().supports_defer or _digest_already_waiting(task, user_id):
        return 0
    task.using(run_after=due).enqueue(user_id=user_id)
    return 1


def _digest_already_waiting(task, user_id: int | None) -> bool:
    """Where the backend can tell (the database queue): a digest for the admin (`user_id`),
    or for every admin (None), still waits to run, so another would only repeat it."""
    return any(
        (arguments.get("kwargs") or {}).get("user_id") == user_id
        for arguments in live_task_arguments(task)
    )


def circuit_opened_on_commit(server: str) -> None:
    """Called when the breaker opens, inside the transaction that records the refused call."""
    transaction.on_commit(partial(_circuit_opened_enqueue, server), robust=True)


def _circuit_opened_enqueue(server: str) -> None:
    notify_circuit_opened.enqueue(server)


def admins_notify_circuit_opened(server: str) -> str:
    """The worker's side: tell every admin that calls to `server` are stopped."""
    if not VicidialCircuit.objects.filter(server=server, is_open=True).exists():
        return "nothing to do: calls to the server were resumed already"
    admins = deciders()
    notification = notifications.circuit_opened(server)
    if admins:
        _send([_message(admin, notification) for admin in admins])
    return f"told {len(admins)} admin(s)"


def _reachable(user: AbstractBaseUser) -> bool:
    return bool(user.is_active and (getattr(user, user.get_email_field_name(), "") or "").strip())


def _vicidial_passwords() -> list[str]:
    passwords = {str(raw_server_settings(name)["API_PASS"] or "") for name in server_names()}
    return sorted(filter(None, passwords))


def scrubbed(text: str) -> str:
    """A second guard: no VICIdial password of any server leaves in an email, whatever the
    composition put in."""
    for password in _vicidial_passwords():
        text = redact(text, password)
    return text


def _message(user: AbstractBaseUser, notification: notifications.Notification) -> EmailMessage:
    return EmailMessage(
        subject=scrubbed(notification.subject),
        body=scrubbed(notification.body),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[getattr(user, user.get_email_field_name()).strip()],
    )


def _send(messages: Sequence[EmailMessage]) -> None:
    try:
        with get_connection() as connection:
            connection.send_messages(list(messages))
    except Exception:
        logger.exception(
            "Could not send %d notification email(s): %r", len(messages), messages[0].subject
        )
        raise


# The tasks (aliases/tasks.py lists them all). Emails wait behind VICIdial calls: an admin
# watching an approval comes first.
EMAIL_PRIORITY = -10


@task(priority=EMAIL_PRIORITY)
def notify_requester(request_id: int, event: str) -> str:
    """Email the requester what became of their request."""
    return requester_notify(request_id, event)


@task(priority=EMAIL_PRIORITY)
def notify_pending_admins(user_id: int | None = None) -> str:
    """Email the admins the requests waiting for their decision (at most once an interval)."""
    return admins_notify_pending(user_id)


@task(priority=EMAIL_PRIORITY)
def notify_circuit_opened(server: str) -> str:
    """Email the admins that calls to `server` are stopped."""
    return admins_notify_circuit_opened(server)


@task(priority=EMAIL_PRIORITY)
def notify_batch_requesters(batch_id: int) -> str:
    """Email each requester of a bulk approval how its calls for them ended."""
    return batch_requesters_notify(batch_id)
