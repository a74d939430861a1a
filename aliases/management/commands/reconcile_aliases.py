import csv
from collections.abc import Iterator
from typing import TextIO

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aliases.audit import AuditContext
from aliases.errors import NoVicidialDatabase
from aliases.services.drift import DriftReport, drift_check
from aliases.services.vicidial_reads import servers_with_database
from aliases.spreadsheet import csv_cell
from aliases.vicidial_db import VicidialDatabaseError

CSV_COLUMNS = [
    "server",
    "kind",
    "kind_label",
    "alias_id",
    "inventory_state",
    "inventory_name",
    "inventory_logins",
    "vicidial_name",
    "vicidial_logins",
    "dead_logins",
    "fix",
    "open_request",
]


def csv_rows(report: DriftReport) -> Iterator[list[str]]:
    for row in report.rows:
        values = [
            report.server,
            row.kind,
            row.kind_label,
            row.alias_id,
            row.inventory_state,
            row.inventory_name,
            ",".join(row.inventory_logins),
            row.vicidial_name,
            ",".join(row.vicidial_logins),
            ",".join(row.dead_logins),
            row.fix.kind if row.fix else "",
            str(row.live_request.pk) if row.live_request else "",
        ]
        yield [csv_cell(value) for value in values]


class Command(BaseCommand):
    help = (
        "Compare the alias inventory with VICIdial's own database (SELECT only) and print "
        "the differences per kind; --csv writes one row per difference. Exits 0 even when "
        "they differ: the counts are the answer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--server", default="", help="one server; every server with a database URL if omitted"
        )
        parser.add_argument(
            "--csv", dest="csv_path", default="", help="a file to write the rows to; - for stdout"
        )

    def handle(self, *args, server: str = "", csv_path: str = "", **options) -> None:
        servers = [server] if server else servers_with_database()
        if not servers:
            raise CommandError(
                "No VICIdial server has a database URL: set VICIDIAL_DB_URL "
                "(or VICIDIAL_<NAME>_DB_URL) to a read-only account."
            )
        context = AuditContext.system("manage.py reconcile_aliases")
        reports = []
        for name in servers:
            try:
                report = drift_check(server=name, context=context)
            except (ImproperlyConfigured, NoVicidialDatabase, VicidialDatabaseError) as error:
                raise CommandError(str(error)) from None
            reports.append(report)
            # With the CSV on stdout, the counts go to stderr so the CSV stays parseable.
            self._print(report, self.stderr if csv_path == "-" else self.stdout)
        if csv_path == "-":
            self._write_csv(self.stdout, reports)
        elif csv_path:
            with open(csv_path, "w", newline="", encoding="utf-8") as stream:
                self._write_csv(stream, reports)
            rows = sum(len(report.rows) for report in reports)
            self.stdout.write(f"Wrote {rows} rows to {csv_path}.")

    def _print(self, report: DriftReport, out: TextIO) -> None:
        out.write(f"{report.summary()} Compared with {report.source}.")
        for kind, count in report.counts.items():
            out.write(f"  {kind}: {count}")

    def _write_csv(self, stream: TextIO, reports: list[DriftReport]) -> None:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for report in reports:
            writer.writerows(csv_rows(report))
