from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from aliases.audit import AuditContext
from aliases.services import alias_requests_reconcile_inflight
from aliases.services.calls import longest_live_call


class Command(BaseCommand):
    help = (
        "Move requests left 'calling VICIdial' by a stopped process to 'needs verification', "
        "so an admin checks VICIdial. Run it from cron every few minutes."
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

    def handle(self, *args, older_than: int | None, **options):
        longest_call = longest_live_call()
        cutoff = longest_call if older_than is None else timedelta(seconds=older_than)
        if cutoff < longest_call:
            raise CommandError(
                f"--older-than must exceed {longest_call.total_seconds():.0f} s, the longest "
                "a live call can take (three times VICIDIAL_TOTAL_DEADLINE)."
            )
        settled = alias_requests_reconcile_inflight(
            older_than=cutoff, context=AuditContext.system("manage.py reconcile_inflight")
        )
        for alias_request in settled:
            self.stdout.write(
                f"#{alias_request.pk} {alias_request.alias_id}: "
                f"{alias_request.get_status_display().lower()}"
            )
        self.stdout.write(f"{len(settled)} stale request(s) moved out of calling VICIdial.")
