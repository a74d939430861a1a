"""A database-backed bound on the VICIdial calls in flight per server, across every process
and machine of the portal.

Each call holds one of VICIDIAL_MAX_IN_FLIGHT slot rows by writing its token into it, in a
short transaction of its own: the call itself then runs with no transaction open and no
row lock held. A slot whose holder died frees itself when its lease runs out.
"""

import random
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone

from ..models import VicidialCallSlot
from ..vicidial.servers import DEFAULT_SERVER, longest_deadline, raw_server_settings

POLL_SECONDS = 0.05


def slot_lease() -> timedelta:
    """How long a slot stays taken: the call ends by its deadline, then as long again to
    record the answer. Only a dead holder runs past it."""
    return timedelta(seconds=2 * longest_deadline())


def slot_count(server: str) -> int:
    return int(raw_server_settings(server)["MAX_IN_FLIGHT"])


def _ensure_slots(server: str, count: int) -> None:
    VicidialCallSlot.objects.bulk_create(
        [VicidialCallSlot(server=server, number=number) for number in range(1, count + 1)],
        ignore_conflicts=True,
    )


def call_slot_try_acquire(*, server: str = DEFAULT_SERVER) -> str | None:
    """Take a free slot and return its holder token, or None if all are taken. Inside a
    transaction (the worker's, before a call) the slot is taken in it: rolled back with it."""
    count = slot_count(server)
    token = _take_free_slot(server, count)
    if (
        token is None
        and VicidialCallSlot.objects.filter(server=server, number__lte=count).count() < count
    ):
        # The rows are made on first use (or when MAX_IN_FLIGHT grows), not on every call.
        _ensure_slots(server, count)
        token = _take_free_slot(server, count)
    return token


def _take_free_slot(server: str, count: int) -> str | None:
    # One statement: UPDATE ... WHERE id = (the first free slot, locked). The lock
    # re-checks the row as committed, so a slot another process just took is not free.
    # "=", not "IN": a scalar subquery runs once, while PostgreSQL may rescan an IN's
    # subquery per row of a nested loop, and each rescan could lock and take another slot.
    with transaction.atomic(savepoint=False):
        now = timezone.now()
        # SKIP LOCKED: two processes never wait on each other's choice, each takes another.
        free = (
            VicidialCallSlot.objects.select_for_update(skip_locked=True)
            .filter(server=server, number__lte=count)
            .filter(Q(holder="") | Q(expires_at__lt=now))
            .order_by("number")
            .values("pk")[:1]
        )
        token = uuid.uuid4().hex
        taken = VicidialCallSlot.objects.filter(pk=Subquery(free)).update(
            holder=token, acquired_at=now, expires_at=now + slot_lease()
        )
        return token if taken else None


def call_slot_acquire(*, wait: float, server: str = DEFAULT_SERVER) -> str | None:
    """Wait up to `wait` seconds for a slot; its token, or None if none came free. Inside a
    transaction it tries once: waiting there would hold the caller's locks."""
    give_up_at = time.monotonic() + wait
    while True:
        token = call_slot_try_acquire(server=server)
        if token is not None or time.monotonic() >= give_up_at:
            return token
        if transaction.get_connection().in_atomic_block:
            return None
        # Jitter keeps a burst of waiters from polling in lockstep.
        pause = POLL_SECONDS * random.uniform(0.5, 1.5)
        time.sleep(max(0.0, min(pause, give_up_at - time.monotonic())))


def call_slot_release(token: str, *, server: str = DEFAULT_SERVER) -> None:
    """Free the slot `token` holds; a slot that expired and was taken by another stays theirs."""
    VicidialCallSlot.objects.filter(server=server, holder=token).update(
        holder="", acquired_at=None, expires_at=None
    )
