"""A rate limit per VICIdial server (VICIDIAL_CALLS_PER_SECOND), shared by every worker on
every machine through one row per server: each call reserves the next start time in turn,
so a batch of 200 approvals reaches VICIdial evenly spaced instead of all at once."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..models import VicidialCallPace
from ..vicidial.servers import raw_server_settings

# A worker sleeps at most this long for its turn; beyond it, the call goes back to the queue
# for later and the worker takes other work.
LONGEST_WAIT_SECONDS = 2.0


def calls_per_second(server: str) -> float:
    return float(raw_server_settings(server)["CALLS_PER_SECOND"] or 0)


def pace_reserve(server: str) -> float | None:
    """Reserve the next start time for a call to `server`: the seconds to wait until then,
    or None (nothing reserved) if that is further off than LONGEST_WAIT_SECONDS. Inside a
    transaction (the worker's, before a call) the reservation commits with it."""
    rate = calls_per_second(server)
    if rate <= 0:
        return 0.0
    with transaction.atomic(savepoint=False):
        pace = VicidialCallPace.objects.select_for_update().filter(server=server).first()
        if pace is None:  # the server's first call: its row, then its lock
            VicidialCallPace.objects.get_or_create(server=server)
            pace = VicidialCallPace.objects.select_for_update().get(server=server)
        now = timezone.now()
        start = max(now, pace.next_call_at)
        wait = (start - now).total_seconds()
        if wait > LONGEST_WAIT_SECONDS:
            return None
        pace.next_call_at = start + timedelta(seconds=1 / rate)
        pace.save(update_fields=["next_call_at"])
    return wait
