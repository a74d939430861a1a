from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from ..audit import AuditContext, record
from ..models import AliasRequest
from .notify import requester_notification_on_commit


def lock_request(
    request_id: int,
    *,
    related: tuple[str, ...] = (),
    with_logins: bool = False,
    annotations: dict[str, Any] | None = None,
) -> AliasRequest:
    """Take the request's row lock, the first lock of every step that changes a request.

    NO KEY UPDATE, not plain FOR UPDATE: writing an audit event that points at a request
    takes a KEY SHARE lock on its row when the foreign key is checked at commit, while the
    writer already holds the chain head. FOR UPDATE conflicts with KEY SHARE, so a step
    holding it and waiting for the head would deadlock with that writer; NO KEY UPDATE
    does not conflict, and it still serializes every step on the same request.

    `related`: foreign keys read in the same query (select_related); only the request's
    own row is locked (OF self), so the user or batch rows they join stay unlocked.
    `with_logins`: its phone logins prefetched, for every later use in the step.
    `annotations`: values read in the same query (scalar subqueries: they lock nothing).
    """
    requests = AliasRequest.objects.select_for_update(no_key=True, of=("self",) if related else ())
    if related:  # select_related() with no names would follow every foreign key
        requests = requests.select_related(*related)
    if with_logins:
        requests = requests.prefetch_related("logins")
    if annotations:
        requests = requests.annotate(**annotations)
    return requests.get(pk=request_id)


def reuse_logins(locked: AliasRequest, read: AliasRequest | None) -> None:
    """Give the locked copy of a request the phone logins an earlier read of it prefetched:
    they are written once, with the request, and never change, so reading them again under
    the lock would only cost a query."""
    cache = getattr(read, "_prefetched_objects_cache", {}) if read is not None else {}
    if read is not None and read.pk == locked.pk and "logins" in cache:
        locked._prefetched_objects_cache = {"logins": cache["logins"]}


def transition(
    alias_request: AliasRequest,
    to: str,
    *,
    event_type: str,
    actor: AbstractBaseUser | None = None,
    context: AuditContext | None = None,
    reason: str = "",
    outcome_reason: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Move a locked request to `to`, save it, and write the one audit event for the step.

    Call it inside the transaction that holds the request's row lock.
    """
    previous = alias_request.status
    alias_request.move_to(to)
    if outcome_reason is not None:
        alias_request.outcome_reason = outcome_reason
    if alias_request.is_final:
        alias_request.completed_at = timezone.now()
    alias_request.save()
    record(
        event_type=event_type,
        actor=actor,
        context=context,
        request=alias_request,
        extensions=alias_request.logins_touched(),
        outcome=alias_request.status,
        reason=reason,
        changes={"status": [previous, alias_request.status], **(changes or {})},
    )
    requester_notification_on_commit(alias_request, previous)
