from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aliases.services.extensions import extensions_sync_from_vicidial
from aliases.vicidial.servers import DEFAULT_SERVER, server_label, setting_name, vicidial_server
from aliases.vicidial_db import VicidialDatabaseError


class Command(BaseCommand):
    help = (
        "Read one VICIdial server's phones table (SELECT only) and bring that server's "
        "extension catalogue in step: phones are created or updated, logins gone from VICIdial "
        "are marked unknown. Other servers' catalogues are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--server",
            default=DEFAULT_SERVER,
            help="the VICIdial server whose catalogue to sync (a name from VICIDIAL_SERVERS, "
            f"or {DEFAULT_SERVER!r})",
        )
        parser.add_argument(
            "--db-url",
            default="",
            # A password on the command line shows in the process list and shell history.
            help="mysql://user:password@host:3306/asterisk; defaults to the server's "
            "VICIDIAL_DB_URL (VICIDIAL_<NAME>_DB_URL), which is the better place for the password.",
        )

    def handle(self, *args, server: str = DEFAULT_SERVER, db_url: str = "", **options) -> None:
        try:
            db_url = db_url or vicidial_server(server).db_url
            if not db_url:
                raise CommandError(
                    f"No VICIdial database configured for {server_label(server)}: "
                    f"set {setting_name(server, 'DB_URL')} or pass --db-url."
                )
            report = extensions_sync_from_vicidial(db_url=db_url, server=server)
        except (VicidialDatabaseError, ImproperlyConfigured) as error:
            raise CommandError(str(error)) from None
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            f"Synced the catalogue of {server_label(server)} from {report.source}: "
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.marked_unknown} marked unknown to VICIdial."
        )
