from pathlib import Path

from django.core.management.base import BaseCommand

from aliases.audit import current_checkpoint


class Command(BaseCommand):
    help = (
        "Print (or write) the audit chain's head, to keep outside the database; "
        "verify_audit --checkpoint then detects events cut off the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, help="Write the checkpoint to this file.")

    def handle(self, *args, output: Path | None, **options):
        checkpoint = current_checkpoint()
        if output is not None:
            output.write_text(checkpoint.as_json() + "\n")
        self.stdout.write(checkpoint.as_json())
