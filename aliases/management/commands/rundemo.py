import io
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from aliases.simulator.demo import start_demo_simulators

# How often the demo settles stale calls and unknown outcomes (cron does it in production).
RECONCILE_EVERY_SECONDS = 15


class Command(BaseCommand):
    help = (
        "Serve the portal on 127.0.0.1:8000 together with a VICIdial simulator for each "
        "configured server whose API URL is on this machine (make run: :8089 and :8090)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")

    def handle(self, *args, port: str, **options):
        if not settings.DEBUG:
            raise CommandError("rundemo is for trying the portal out; it needs DEBUG on.")
        try:
            simulators = start_demo_simulators(self.stdout.write)
        except OSError as error:
            raise CommandError(str(error)) from None
        stop = threading.Event()
        threading.Thread(target=_reconcile_until, args=(stop,), daemon=True).start()
        self.stdout.write(
            f"Settling stale calls and unknown outcomes every {RECONCILE_EVERY_SECONDS} s "
            "(manage.py reconcile_inflight)."
        )
        try:
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        finally:
            stop.set()
            for simulator in simulators:
                simulator.stop()
                simulator.state.close()


def _reconcile_until(stop: threading.Event) -> None:
    while not stop.wait(RECONCILE_EVERY_SECONDS):
        try:
            call_command("reconcile_inflight", stdout=io.StringIO())
        except Exception as error:  # noqa: BLE001 - the demo keeps serving; say why once
            print(f"reconcile_inflight failed: {error}")  # noqa: T201
        finally:
            connections.close_all()
