import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from aliases.audit.digests import DigestError, digest_create, load_signing_key, public_key_pem


class Command(BaseCommand):
    help = (
        "Sign a digest of the audit chain's head (sequence, hash, time, previous digest) with "
        "the Ed25519 key of AUDIT_SIGNING_KEY_FILE, and write it to a folder or to standard "
        "output, to keep where the database's administrators cannot rewrite it (cron it)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output-dir",
            type=Path,
            metavar="DIR",
            help="Write the digest as a new file in DIR (names sort by time, then sequence).",
        )
        parser.add_argument(
            "--print-public-key",
            action="store_true",
            help="Print the public key (PEM) auditors verify the digests with, and stop.",
        )

    def handle(self, *args, output_dir: Path | None, print_public_key: bool, **options):
        try:
            key = load_signing_key()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        if print_public_key:
            self.stdout.write(public_key_pem(key), ending="")
            return
        if output_dir is not None and not output_dir.is_dir():
            raise CommandError(f"{output_dir} is not a folder.")
        try:
            digest = digest_create(key=key)
        except DigestError as error:
            raise CommandError(str(error)) from error
        if output_dir is None:
            self.stdout.write(digest.as_text(), ending="")
            return
        path = output_dir / digest.file_name
        try:
            # Written whole or not at all: a half-written digest would look tampered with.
            partial = path.with_suffix(".part")
            partial.write_text(digest.as_text(), encoding="utf-8")
            os.replace(partial, path)
        except OSError as error:
            raise CommandError(
                f"Digest #{digest.sequence} was signed but cannot be written to {path} "
                f"({error.strerror}); keep this copy as {digest.file_name}:\n{digest.as_text()}"
            ) from error
        self.stdout.write(f"{path}: digest of #{digest.sequence} {digest.head_hash}")
