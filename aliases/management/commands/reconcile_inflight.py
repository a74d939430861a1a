import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from aliases.audit import AuditContext
from aliases.services.calls import longest_live_call
from aliases.services.housekeeping import housekeeping_run


class Command(BaseCommand):
    help = (
        "Move requests left 'calling VICIdial' by a stopped process to 'needs verification', "
        "so an admin checks VICIdial; hand queued requests whose task was lost to the worker "
        "again; then settle unknown outcomes from VICIdial's database "
        "where the portal can read it. Run it from cron every few minutes, or with --every."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="SECONDS",
            help=(
                "Only touch requests calling for longer than this (default: the longest a "
                "live call can take, from VICIDIAL_TOTAL_DEADLINE)."
            ),
        )
        parser.add_argument(
            "--every",
            type=int,
            default=None,
            metavar="SECONDS",
            help="Run again every SECONDS, until stopped (the demo's way of running it).",
        )

    def handle(self, *args, older_than: int | None, every: int | None, **options):
        longest_call = longest_live_call()
        cutoff = longest_call if older_than is None else timedelta(seconds=older_than)
        if cutoff < longest_call:
            raise CommandError(
                f"--older-than must exceed {longest_call.total_seconds():.0f} s, the longest "
                "a live call can take (three times VICIDIAL_TOTAL_DEADLINE)."
            )
        if every is not None and every < 1:
            raise CommandError("--every must be at least 1 second.")
        try:
            while True:
                self._run_once(cutoff)
                if every is None:
                    return
                time.sleep(every)
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")

    def _run_once(self, cutoff: timedelta) -> None:
        context = AuditContext.system("manage.py reconcile_inflight")
        done = housekeeping_run(context=context, calling_older_than=cutoff)
        for alias_request in done.settled:
            self.stdout.write(
                f"#{alias_request.pk} {alias_request.alias_id}: "
                f"{alias_request.get_status_display().lower()}"
            )
        self.stdout.write(f"{len(done.settled)} stale request(s) moved out of calling VICIdial.")
        if done.requeued:
            ids = ", ".join(f"#{pk}" for pk in done.requeued)
            self.stdout.write(
                f"{len(done.requeued)} queued request(s) handed to the worker again: {ids}."
            )
        for alias_request in done.verified:
            self.stdout.write(
                f"#{alias_request.pk} {alias_request.alias_id}: "
                f"{alias_request.get_status_display().lower()}: {alias_request.outcome_reason}"
            )
        self.stdout.write(f"{len(done.verified)} request(s) checked in VICIdial's database.")
