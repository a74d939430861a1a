"""Every page and job of issue 10's table at 10% and at 100% of the scale data set.

    .venv/bin/python bench/scale.py                       # load 10%, measure, top up, measure
    .venv/bin/python bench/scale.py --skip-load --db portal_scale     # measure what is loaded
    .venv/bin/python bench/scale.py --load-only --db portal_scale     # load, measure nothing
    .venv/bin/python bench/scale.py --only export,verify -n 3 --markdown out.md

The data set (bench/scale_data.py): 100,000 requests, 1,000,000 VICIdial calls, 2,000,000
audit events with a valid chain and MACs, about 2.6 million extension index rows over 20,000
extensions (the busiest about 18,000 events), over two years. It is COPYed into a database
migrated to HEAD (bench/scale_load.py) in segments, 10% first, then topped up to 100%: the
chain continues across them. Figures are server-side, through Django's test client, with
production settings (DEBUG off); each prints median, min and max over N runs and the query
count of a run. The approval goes through HTTP and then the worker's call path, in this
process, against the VICIdial simulator on loopback.

Measuring writes to the database (every look at the trail is audited, approvals add
requests), so measure on a database of your own (--db), not the shared read-only one.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import os
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import BENCH_MAC_KEY  # noqa: E402 - after the path is set

PG_SERVER = os.environ.get("PG_SERVER", "postgres://postgres@127.0.0.1:5432")
SIMULATOR_PASSWORD = secrets.token_urlsafe(18)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def configure(database: str, simulator_port: int, static_root: str) -> None:
    """Production settings (bench/settings.py: DEBUG off, collectstatic into a temp folder),
    the fixed bench MAC key (so verify_audit passes on a reused database), plain HTTP for the
    test client, and tasks queued in the database: the harness runs the worker's part itself."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "BENCH_STATIC_ROOT": static_root,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"{PG_SERVER}/{database}",
            "AUDIT_HMAC_KEYS": BENCH_MAC_KEY,
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "VICIDIAL_API_URL": f"http://127.0.0.1:{simulator_port}/vicidial/non_agent_api.php",
            "VICIDIAL_API_USER": "6666",
            "VICIDIAL_API_PASS": SIMULATOR_PASSWORD,
            # One call at a time here: the pace limit would only add sleeps to the figure.
            "VICIDIAL_CALLS_PER_SECOND": "1000",
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "EMAIL_URL": "memorymail://",
            "LOG_LEVEL": "WARNING",
        }
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="portal_scale", help="database name (portal_scale)")
    parser.add_argument("--fractions", default="0.1,1", help="load steps to measure at")
    parser.add_argument("--skip-load", action="store_true", help="measure the database as is")
    parser.add_argument("--load-only", action="store_true", help="load, measure nothing")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated figure groups, substrings or globs: extension_history, "
        "admin_search, admin_changelists, admin_filters, portal_pages, exports, verify_audit, "
        "approval",
    )
    parser.add_argument("-n", "--runs", type=int, default=7, help="runs per figure (7)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument(
        "--size", type=float, default=1.0, help="scale the data set (a quick trial: 0.01)"
    )
    return parser.parse_args()


def selected_groups(only: str) -> list[str]:
    from bench.scale_figures import FIGURES

    if not only:
        return list(FIGURES)
    patterns = [f"*{pattern.strip()}*" for pattern in only.split(",") if pattern.strip()]
    return [name for name in FIGURES if any(fnmatch.fnmatch(name, p) for p in patterns)]


def measure(label: str, groups: list[str], runs: int) -> list:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.scale_figures import FIGURES, find_subjects
    from bench.scale_load import read_state

    state = read_state()
    subjects = find_subjects(state.loaded_until if state else time_now())
    print(
        f"\n== {label}: {subjects.events:,} events; typical extension {subjects.typical} "
        f"({subjects.typical_events:,} events), busiest {subjects.busiest} "
        f"({subjects.busiest_events:,}); week {subjects.week_since}..{subjects.week_until}"
    )
    client = Client()
    client.force_login(get_user_model().objects.get(username="scale_admin"))
    figures = []
    for group in groups:
        began = time.perf_counter()
        for figure in FIGURES[group](client, subjects, runs):
            print("  " + line(figure), flush=True)
            figures.append(figure)
        print(f"  ({group}: {time.perf_counter() - began:.0f} s)", flush=True)
    return figures


def time_now():
    from django.utils import timezone

    return timezone.now()


def ms(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value / 1000:,.2f} s" if value >= 1000 else f"{value:,.0f} ms"


def line(figure) -> str:
    if figure.failed:
        return f"{figure.name}: FAILED {figure.failed}"
    times = figure.times_ms
    counts = figure.counts
    extra = f", {counts.commits} commits, {counts.head_locks} head locks" if counts.commits else ""
    note = f" [{figure.note}]" if figure.note else ""
    return (
        f"{figure.name}: median {ms(figure.median)} (min {ms(min(times))}, max {ms(max(times))}, "
        f"n={len(times)}), {counts.queries} queries{extra}{note}"
    )


def table(results: dict[str, list]) -> str:
    """Markdown: one row per figure, a column pair per fraction, growth first to last."""
    labels = list(results)
    names = list(dict.fromkeys(figure.name for figures in results.values() for figure in figures))
    by_label = {label: {f.name: f for f in figures} for label, figures in results.items()}
    header = ["page or job"]
    for label in labels:
        header += [f"{label} median (min–max)", "queries"]
    if len(labels) > 1:
        header.append("growth")
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        cells = [name.replace("|", "/")]
        medians = []
        for label in labels:
            figure = by_label[label].get(name)
            if figure is None or figure.failed or not figure.times_ms:
                cells += ["failed" if figure and figure.failed else "–", ""]
                medians.append(float("nan"))
                continue
            spread = f"{ms(min(figure.times_ms))}–{ms(max(figure.times_ms))}"
            note = f" ({figure.note})" if figure.note else ""
            cells += [f"{ms(figure.median)} ({spread}){note}", str(figure.counts.queries)]
            medians.append(figure.median)
        if len(labels) > 1:
            first, last = medians[0], medians[-1]
            growth = last / first if first and not math.isnan(first + last) else float("nan")
            cells.append("–" if math.isnan(growth) else f"{growth:.1f}×")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    args = parse_args()
    fractions = [float(part) for part in args.fractions.split(",")]
    with tempfile.TemporaryDirectory() as static_root:
        port = free_port()
        configure(args.db, port, static_root)
        import django

        django.setup()
        from django.core.management import call_command

        from aliases.simulator import VicidialSimulator, demo_state
        from bench import scale_load

        simulator = VicidialSimulator(demo_state(user="6666", password=SIMULATOR_PASSWORD))
        simulator.start(port=port)
        groups = [] if args.load_only else selected_groups(args.only)
        if groups:
            call_command("collectstatic", interactive=False, verbosity=0)
        results: dict[str, list] = {}
        try:
            if args.skip_load:
                state = scale_load.read_state()
                label = f"at {state.loaded:.0%}" if state else "as loaded"
                results[label] = measure(label, groups, args.runs)
            else:
                print(f"creating {args.db}, migrating to HEAD")
                state = scale_load.new_database(args.db, size=args.size)
                for fraction in fractions:
                    print(f"loading up to {fraction:.0%}")
                    loaded = scale_load.load_segment(state=state, until=fraction)
                    print(
                        f"loaded to {fraction:.0%} in {loaded['seconds']:.0f} s: "
                        + ", ".join(
                            f"{key} {value:,}" for key, value in loaded.items() if key != "seconds"
                        )
                    )
                    if groups:
                        label = f"at {fraction:.0%}"
                        results[label] = measure(label, groups, args.runs)
        finally:
            simulator.stop()
    if results:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        text = (
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{os.cpu_count()} cores, load average at the end {load}; median (min–max) of "
            f"{args.runs} runs (3 for exports, verify_audit and approvals), server-side.\n\n"
            + table(results)
        )
        print("\n" + text)
        if args.markdown:
            args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
