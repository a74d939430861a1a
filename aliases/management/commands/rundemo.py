import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from aliases.simulator.demo import start_demo_simulators

# The same interpreter as rundemo's, so the virtualenv's.
WORKER_COMMAND = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "portal_worker"]
# A little over a call's deadline: SIGTERM lets the running call finish and be recorded.
WORKER_STOP_SECONDS = 25
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Command(BaseCommand):
    help = (
        "Serve the portal on 127.0.0.1:8000 together with a VICIdial simulator for each "
        "configured server whose API URL is on this machine (make run: :8089 and :8090), "
        "and a task worker (manage.py portal_worker) that makes the approved calls."
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
        worker = None
        # A terminal closed or a `kill` ends rundemo through `finally`, like Ctrl+C, so the
        # worker (in a session of its own, out of the terminal's reach) is stopped too.
        before = {signum: signal.signal(signum, _exit) for signum in STOP_SIGNALS}
        try:
            worker = start_worker()
            self.stdout.write(
                f"Task worker started (manage.py portal_worker, pid {worker.pid}): it makes "
                "the approved calls and settles stale ones every 15 s."
            )
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        finally:
            if worker is not None:
                stop_worker(worker)
            for simulator in simulators:
                simulator.stop()
                simulator.state.close()
            for signum, handler in before.items():
                signal.signal(signum, handler)


def _exit(signum, frame) -> None:
    raise SystemExit(0)


def start_worker() -> subprocess.Popen:
    # Its own session: Ctrl+C at the terminal reaches rundemo alone, which then stops the
    # worker with one SIGTERM (a second signal would cut a running call short).
    return subprocess.Popen(WORKER_COMMAND, start_new_session=True)  # noqa: S603 - fixed


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
