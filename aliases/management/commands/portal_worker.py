"""The portal's task worker: django-tasks-db's db_worker, plus a heartbeat (the home page
warns admins when no worker is alive) and the periodic housekeeping (housekeeping.py).

SIGTERM or Ctrl+C lets a running VICIdial call finish and be recorded, then exits; a
second one, or SIGKILL, stops at once and leaves the call "in flight" for housekeeping.
"""

import logging
import os
import socket
import threading

from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks_db.management.commands import db_worker

from aliases.audit import AuditContext
from aliases.models import WorkerHeartbeat
from aliases.services.housekeeping import housekeeping_run

logger = logging.getLogger("aliases.worker")

HEARTBEAT_SECONDS = 5
HOUSEKEEPING_SECONDS = 15


class Command(db_worker.Command):
    help = (
        "Run the portal's task worker: every VICIdial call and email, and the periodic "
        "settling of stale calls. Run one or more, on any machine that reaches the database."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        # Fast enough that an approval's outcome shows within about a second.
        parser.set_defaults(interval=0.2, reload=False, queue_name="*")
        parser.add_argument(
            "--no-housekeeping",
            action="store_false",
            dest="housekeeping",
            help="Only run tasks; leave settling stale calls to another worker or to cron.",
        )

    def handle(self, *args, worker_id: str, housekeeping: bool, **options):
        stop = threading.Event()
        # Two threads: a slow housekeeping step (a VICIdial database that hangs) must not
        # make the heartbeat look stale and the home page report no worker.
        loops = [_every(HEARTBEAT_SECONDS, stop, lambda: _beat_once(worker_id))]
        if housekeeping:
            context = AuditContext.system(f"task worker {worker_id[:12]}")
            loops.append(
                _every(HOUSEKEEPING_SECONDS, stop, lambda: housekeeping_run(context=context))
            )
        _beat_once(worker_id)
        threads = [threading.Thread(target=loop, daemon=True) for loop in loops]
        for thread in threads:
            thread.start()
        try:
            super().handle(*args, worker_id=worker_id, **options)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=HEARTBEAT_SECONDS)
            WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def _beat_once(worker_id: str) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "seen_at": timezone.now(),
        },
    )


def _every(seconds: float, stop: threading.Event, step):
    """A loop running `step` every `seconds` until `stop`, on a connection of its own."""

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                close_old_connections()
                step()
            except Exception:  # noqa: BLE001 - the worker keeps working; the log says why
                logger.exception("worker: periodic step %s failed", step)
            finally:
                connection.close()

    return loop
