"""The portal's background tasks (Django's Tasks API, through the django-tasks backport).

Each is defined beside the service it runs, as a thin wrapper over it, so what a task does
is what the same service does anywhere else; the arguments are plain JSON, as every
backend needs. This module lists them in one place.
"""

from .services.notify import (
    notify_batch_requesters,
    notify_circuit_opened,
    notify_pending_admins,
    notify_requester,
)
from .services.queue import call_vicidial

__all__ = [
    "call_vicidial",
    "notify_batch_requesters",
    "notify_circuit_opened",
    "notify_pending_admins",
    "notify_requester",
]
