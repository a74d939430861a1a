import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aliases.audit import Checkpoint, verify_chain, verify_exported_line


class Command(BaseCommand):
    help = (
        "Recompute the audit trail's hash chain. Prints OK with the count and head hash, "
        "or names the first event that was altered, removed or inserted, and fails."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            type=Path,
            help="A file written by audit_checkpoint; detects events cut off the end.",
        )
        parser.add_argument(
            "--export",
            type=Path,
            help="Verify a JSON-lines export instead of the database (works offline).",
        )

    def handle(self, *args, checkpoint: Path | None, export: Path | None, **options):
        if export is not None:
            return self._verify_export(export)
        saved = None
        if checkpoint is not None:
            try:
                saved = Checkpoint.from_json(checkpoint.read_text())
            except (OSError, ValueError, KeyError) as error:
                raise CommandError(f"Cannot read checkpoint {checkpoint}: {error}") from error
        report = verify_chain(checkpoint=saved)
        if not report.ok:
            raise CommandError(
                f"Audit trail BROKEN after {report.count} good events: {report.problem}"
            )
        self.stdout.write(
            f"OK: {report.count} events, head #{report.head.sequence} {report.head.hash}"
        )

    def _verify_export(self, path: Path) -> None:
        previous = None
        count = 0
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        for number, text in enumerate(lines, start=1):
            try:
                line = json.loads(text)
                intact = verify_exported_line(line)
            except (ValueError, KeyError, TypeError) as error:
                raise CommandError(
                    f"line {number}: not an exported audit event ({error})"
                ) from error
            if not intact:
                raise CommandError(f"line {number}: event #{line['sequence']} was altered")
            # A filtered export skips events; links are checked where neighbours are adjacent.
            adjacent = previous is not None and line["sequence"] == previous["sequence"] + 1
            if adjacent and line["prev_hash"] != previous["hash"]:
                raise CommandError(f"line {number}: event #{line['sequence']} does not link")
            previous = line
            count += 1
        self.stdout.write(f"OK: {count} exported events verify")
