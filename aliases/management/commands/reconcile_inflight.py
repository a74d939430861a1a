from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aliases.audit import AuditContext
from aliases.services import alias_requests_reconcile_inflight


class Command(BaseCommand):
    help = (
        "Move requests left 'calling VICIdial' by a stopped process to 'needs verification', "
        "so an admin checks VICIdial. Run it from cron every few minutes."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=600,
            metavar="SECONDS",
            help="Only touch calls started longer ago than this (default 600).",
        )

    def handle(self, *args, older_than: int, **options):
        # A call may legitimately run for every attempt's connect and read timeouts.
        longest_call = 3 * (settings.VICIDIAL_CONNECT_TIMEOUT + settings.VICIDIAL_TIMEOUT)
        if older_than <= longest_call:
            raise CommandError(
                f"--older-than must exceed {longest_call:.0f} s, the longest a live call can take."
            )
        settled = alias_requests_reconcile_inflight(
            older_than=timedelta(seconds=older_than),
            context=AuditContext.system("manage.py reconcile_inflight"),
        )
        for alias_request in settled:
            self.stdout.write(f"#{alias_request.pk} {alias_request.alias_id}: needs verification")
        self.stdout.write(f"{len(settled)} stale request(s) moved to needs verification.")
