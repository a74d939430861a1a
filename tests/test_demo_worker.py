"""`make run` starts a task worker with the portal, and stops it when the portal stops."""

import os
import signal
import sys
from pathlib import Path

import pytest

from aliases.management.commands import rundemo

from .workers import wait_for

ROOT = Path(__file__).resolve().parent.parent
# Stands in for portal_worker: exits 0 on SIGTERM, as the worker does once its call is done.
STAND_IN = (
    "import pathlib, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))\n"
    "pathlib.Path(sys.argv[1]).touch()\n"
    "time.sleep(60)\n"
)


def test_the_demo_worker_is_this_pythons_portal_worker():
    command = rundemo.WORKER_COMMAND
    assert command == [sys.executable, str(ROOT / "manage.py"), "portal_worker"]


@pytest.mark.parametrize("runserver_ends", [None, KeyboardInterrupt, signal.SIGTERM])
def test_rundemo_runs_a_worker_beside_the_portal_and_stops_it(
    settings, monkeypatch, tmp_path, runserver_ends
):
    settings.DEBUG = True
    up = tmp_path / "up"
    monkeypatch.setattr(rundemo, "WORKER_COMMAND", [sys.executable, "-c", STAND_IN, str(up)])
    monkeypatch.setattr(rundemo, "start_demo_simulators", lambda log: [])
    started = []
    real_start = rundemo.start_worker
    monkeypatch.setattr(rundemo, "start_worker", lambda: started.append(real_start()) or started[0])
    seen_running = []

    def runserver(name, address, **options):
        assert (name, address) == ("runserver", "127.0.0.1:8000")
        wait_for(up.exists, timeout=30, what="the stand-in worker to start")
        seen_running.append(started[0].poll() is None)
        if runserver_ends == signal.SIGTERM:
            os.kill(os.getpid(), signal.SIGTERM)  # `kill` of rundemo: its handler exits
        elif runserver_ends:
            raise runserver_ends

    monkeypatch.setattr(rundemo, "call_command", runserver)
    handler_before = signal.getsignal(signal.SIGTERM)
    command = rundemo.Command()
    if runserver_ends:
        raised = SystemExit if runserver_ends == signal.SIGTERM else runserver_ends
        with pytest.raises(raised):
            command.handle(port="8000")
    else:
        command.handle(port="8000")

    [worker] = started
    assert seen_running == [True]
    assert worker.poll() == 0  # stopped by SIGTERM, cleanly, not killed
    assert signal.getsignal(signal.SIGTERM) == handler_before
