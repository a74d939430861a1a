from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aliases.audit import ChainReport, verify_chain, verify_export
from aliases.audit.digests import (
    DigestError,
    SeriesReport,
    key_fingerprint,
    load_public_key,
    read_digest_dir,
    verify_series,
)
from aliases.audit.ranges import RANGE_EVENTS


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Verify the audit trail: the hash chain, each event's MAC, the per-extension index, "
        "and (with --digests) the signed digests. Prints OK, or names the first event or "
        "digest that was altered, removed, inserted or cut off, and fails."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--digests",
            type=Path,
            metavar="DIR",
            help="The folder audit_checkpoint writes; detects cut tails and rewrites.",
        )
        parser.add_argument(
            "--public-key",
            type=Path,
            action="append",
            default=[],
            metavar="FILE",
            help="PEM public key the digests are signed with (repeat for rotated keys).",
        )
        parser.add_argument(
            "--export",
            type=Path,
            metavar="FILE.jsonl",
            help="Verify a JSON-lines export instead of the database (offline: no MAC key).",
        )
        parser.add_argument(
            "--jobs",
            type=_positive,
            metavar="N",
            help="Worker processes on PostgreSQL, each verifying ranges of the chain "
            "(default: one per CPU).",
        )
        parser.add_argument(
            "--range-events",
            type=_positive,
            default=RANGE_EVENTS,
            metavar="N",
            help=f"Events per range a worker verifies at a time (default {RANGE_EVENTS}).",
        )

    def handle(
        self,
        *args,
        digests: Path | None,
        public_key: list[Path],
        export,
        jobs: int | None = None,
        range_events: int = RANGE_EVENTS,
        **options,
    ):
        series = self._series(digests, public_key)
        if export is not None:
            report = self._verify_export(export, series)
            what, counted = "Export", "exported events verify"
        else:
            report = verify_chain(
                digests=series.digests if series else (), jobs=jobs, range_events=range_events
            )
            what, counted = "Audit trail", "events"
        if not report.ok:
            raise CommandError(f"{what} BROKEN after {report.count} good events: {report.problem}")
        if export is not None:
            self.stdout.write(f"OK: {report.count} {counted}")
        else:
            self.stdout.write(
                f"OK: {report.count} {counted}, head #{report.head.sequence} {report.head.hash}"
            )
        self._notes(report, series, export is not None)

    def _series(self, folder: Path | None, public_keys: list[Path]) -> SeriesReport | None:
        if folder is None:
            if public_keys:
                raise CommandError("--public-key goes with --digests DIR.")
            return None
        if not public_keys:
            raise CommandError("--digests needs --public-key FILE to check the signatures.")
        try:
            keys = {key_fingerprint(key): key for key in map(load_public_key, public_keys)}
            series = verify_series(read_digest_dir(folder), keys)
        except DigestError as error:
            raise CommandError(str(error)) from error
        if series.problem:
            raise CommandError(f"Digests BROKEN: {series.problem}")
        if not series.digests:
            raise CommandError(f"{folder} holds no audit digest.")
        return series

    def _verify_export(self, path: Path, series: SeriesReport | None) -> ChainReport:
        try:
            with path.open(encoding="utf-8") as lines:
                return verify_export(lines, digests=series.digests if series else ())
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from error

    def _notes(self, report: ChainReport, series: SeriesReport | None, offline: bool) -> None:
        if report.unkeyed:
            self.stdout.write(
                f"  {report.unkeyed} events, #1 to #{report.unkeyed}, were written before the "
                "chain was keyed: hash-chained, without a MAC"
            )
        if offline:
            self.stdout.write("  MACs not checked: that needs the portal's audit key")
        if series is None:
            return
        newest = series.digests[-1]
        self.stdout.write(
            f"  digests: {len(series.digests)}, each signed and linked to the one before; "
            f"the newest, {newest.describe()}, leaves "
            f"{report.head.sequence - newest.sequence} newer events to the MACs alone"
        )
        if series.follows_earlier:
            self.stdout.write(
                f"  the oldest, {series.digests[0].describe()}, follows a digest not in the folder"
            )
