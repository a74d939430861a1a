"""The periodic work that keeps requests moving: run by every task worker (portal_worker)
and by `manage.py reconcile_inflight`; several at once are safe, each step takes row locks."""

from dataclasses import dataclass, field

from django.conf import settings

from ..audit import AuditContext
from ..models import AliasRequest
from .calls import longest_live_call
from .db_verification import alias_requests_verify_from_database
from .queue import alias_requests_requeue_stranded
from .verification import alias_requests_reconcile_inflight


@dataclass
class Housekeeping:
    settled: list[AliasRequest] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    verified: list[AliasRequest] = field(default_factory=list)


def housekeeping_run(*, context: AuditContext, calling_older_than=None) -> Housekeeping:
    """Settle calls a dead process left "calling", hand stranded queued requests to the
    worker again, then settle unknown outcomes from VICIdial's database where readable."""
    done = Housekeeping()
    done.settled = alias_requests_reconcile_inflight(
        older_than=calling_older_than or longest_live_call(), context=context
    )
    done.requeued = alias_requests_requeue_stranded(older_than=settings.QUEUE_STALE_AFTER / 2)
    # After the work above: a request it just moved waits out its settling delay first.
    done.verified = alias_requests_verify_from_database(context=context)
    return done
