from io import StringIO
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aliases.services.extensions import ImportReport, extensions_import_csv
from aliases.vicidial.servers import DEFAULT_SERVER, server_label


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from None
    try:
        # utf-8-sig: spreadsheets often save "CSV UTF-8" with a byte order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CommandError(
            f"{path} is not UTF-8 text (line {line} has byte 0x{data[error.start]:02x}); "
            "save it as 'CSV UTF-8' and try again."
        ) from None


class Command(BaseCommand):
    help = (
        "Import a VICIdial server's extension catalogue from a CSV file with a header row: "
        "login, protocol and optionally extension, description, server_ip, known_to_vicidial. "
        "Rows are matched by login without regard to letter case. If any row is invalid, "
        "nothing is imported unless --skip-invalid is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV file (UTF-8)")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows and report the invalid ones instead of importing nothing.",
        )
        parser.add_argument(
            "--server",
            default=DEFAULT_SERVER,
            help="the VICIdial server whose catalogue the file is (a name from VICIDIAL_SERVERS, "
            f"or {DEFAULT_SERVER!r})",
        )

    def handle(
        self,
        *args,
        file: Path,
        skip_invalid: bool = False,
        server: str = DEFAULT_SERVER,
        **options,
    ) -> None:
        try:
            report = extensions_import_csv(
                stream=StringIO(_decode(file), newline=""),
                skip_invalid=skip_invalid,
                file_name=file.name,
                server=server,
            )
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        for error in report.errors:
            self.stderr.write(f"row {error.row}: {error.message}")
        if report.rejected:
            raise CommandError(self._rejection(report, skip_invalid))
        self.stdout.write(f"Catalogue of {server_label(server)}: {self._summary(report)}")

    @staticmethod
    def _rejection(report: ImportReport, skip_invalid: bool) -> str:
        bad = report.invalid_rows
        if not report.rows:
            return "Nothing was imported: the file is not a readable extension catalogue."
        message = f"Nothing was imported: {bad} of {report.rows} row(s) have errors."
        if report.rows > bad and not skip_invalid:
            message += f" Fix them, or pass --skip-invalid to import the other {report.rows - bad}."
        return message

    @staticmethod
    def _summary(report: ImportReport) -> str:
        summary = (
            f"{report.rows} row(s) read: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged"
        )
        if report.errors:
            summary += f", {report.invalid_rows} skipped as invalid"
        return summary + "."
