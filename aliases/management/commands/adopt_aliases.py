from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aliases.audit import AuditContext
from aliases.errors import NoVicidialDatabase
from aliases.services.adopt import aliases_adopt
from aliases.vicidial.servers import DEFAULT_SERVER
from aliases.vicidial_db import VicidialDatabaseError


class Command(BaseCommand):
    help = (
        "Read VICIdial's phones_alias (SELECT only, through the server's read-only database "
        "URL) and list in the inventory every alias it holds that the inventory lacks. "
        "Nothing is sent to VICIdial."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", default=DEFAULT_SERVER, help="the VICIdial server's name")

    def handle(self, *args, server: str, **options) -> None:
        try:
            report = aliases_adopt(
                server=server, context=AuditContext.system("manage.py adopt_aliases")
            )
        except (ImproperlyConfigured, NoVicidialDatabase, VicidialDatabaseError) as error:
            raise CommandError(str(error)) from None
        for alias_id, logins in report.duplicate_logins.items():
            self.stderr.write(
                f"warning: {alias_id} lists {', '.join(logins)} more than once in VICIdial; "
                "adopted with each login once"
            )
        for alias_id, request_id in report.skipped_live_request.items():
            self.stderr.write(
                f"skipped: {alias_id} has open request #{request_id}; its outcome will list it"
            )
        self.stdout.write(f"Adopted from {report.summary()}.")
        if report.adopted:
            self.stdout.write("Adopted: " + ", ".join(report.adopted))
