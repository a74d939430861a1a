from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aliases.services.extensions import extensions_sync_from_vicidial
from aliases.vicidial_db import VicidialDatabaseError


class Command(BaseCommand):
    help = (
        "Read VICIdial's phones table (SELECT only) and bring the extension catalogue in step: "
        "phones are created or updated, logins gone from VICIdial are marked unknown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--db-url",
            default="",
            # A password on the command line shows in the process list and shell history.
            help="mysql://user:password@host:3306/asterisk; defaults to VICIDIAL_DB_URL, "
            "which is the better place for the password.",
        )

    def handle(self, *args, db_url: str = "", **options) -> None:
        db_url = db_url or settings.VICIDIAL_DB_URL
        if not db_url:
            raise CommandError(
                "No VICIdial database configured: set VICIDIAL_DB_URL or pass --db-url."
            )
        try:
            report = extensions_sync_from_vicidial(db_url=db_url)
        except VicidialDatabaseError as error:
            raise CommandError(str(error)) from None
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            f"Synced from {report.source}: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.marked_unknown} marked unknown to VICIdial."
        )
