"""Times the Django admin's changelists and searches on a loaded database, read-only.

Each page is rendered in this process (the changelist view through RequestFactory, as a
superuser held in memory), so the figure is the server's own time: the queries and the
template. The connection is read-only, so it can run against a shared, loaded database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_scale \\
        .venv/bin/python bench/admin_pages.py --runs 7
    ... --only events --explain     # also EXPLAIN (ANALYZE, BUFFERS) each query once
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    params: dict


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    # The test settings: production's, with static files served from the source folders
    # (no collectstatic output needed to render the admin).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")
    import django
    from django.conf import settings

    settings.DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        "-c default_transaction_read_only=on"
    )
    django.setup()


def sample_keys() -> dict[str, str]:
    """The busiest extension, a typical one (the median count), an alias ID, a username."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, n FROM (SELECT lower(login) AS key, count(*) AS n"
            " FROM aliases_auditeventextension GROUP BY 1) counts ORDER BY n DESC"
        )
        counts = cursor.fetchall()
        cursor.execute(
            "SELECT alias_id FROM aliases_aliasrequest ORDER BY id DESC LIMIT 1 OFFSET 500"
        )
        alias_id = cursor.fetchone()[0]
        cursor.execute(
            "SELECT username FROM auth_user WHERE id = (SELECT requester_id"
            " FROM aliases_aliasrequest ORDER BY id DESC LIMIT 1)"
        )
        username = cursor.fetchone()[0]
    return {
        "busiest": counts[0][0],
        "typical": counts[len(counts) // 2][0],
        "alias_id": alias_id,
        "username": username,
    }


def cases(keys: dict[str, str]) -> list[Case]:
    from django.utils import timezone

    week_ago = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    week = {"__gte": str(week_ago - timezone.timedelta(days=7)), "__lt": str(week_ago)}
    return [
        Case("events", "auditevent", {}),
        Case("events, search typical extension", "auditevent", {"q": keys["typical"]}),
        Case("events, search busiest extension", "auditevent", {"q": keys["busiest"]}),
        Case("events, search alias ID", "auditevent", {"q": keys["alias_id"]}),
        Case("events, past 7 days", "auditevent", {f"occurred_at{k}": v for k, v in week.items()}),
        Case("events, outcome filter", "auditevent", {"outcome": "succeeded"}),
        Case("calls", "vicidialcall", {}),
        Case("calls, search typical extension", "vicidialcall", {"q": keys["typical"]}),
        Case("calls, search alias ID", "vicidialcall", {"q": keys["alias_id"]}),
        Case("calls, past 7 days", "vicidialcall", {f"started_at{k}": v for k, v in week.items()}),
        Case("extensions", "extension", {}),
        Case("extensions, search typical extension", "extension", {"q": keys["typical"]}),
        Case("extensions, search busiest extension", "extension", {"q": keys["busiest"]}),
        Case("requests", "aliasrequest", {}),
        Case("requests, search typical extension", "aliasrequest", {"q": keys["typical"]}),
        Case("requests, search alias ID", "aliasrequest", {"q": keys["alias_id"]}),
        Case("requests, search requester", "aliasrequest", {"q": keys["username"]}),
    ]


def bench_user():
    """The first user, made a superuser in memory only: nothing is written."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.order_by("pk").first()
    if user is None:
        raise SystemExit("the database has no user to render the admin as")
    user.is_superuser = user.is_staff = user.is_active = True
    return user


def render_once(case: Case) -> tuple[float, list[dict]]:
    from django.contrib import admin
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from aliases import models

    model = next(
        m
        for m in vars(models).values()
        if getattr(m, "_meta", None) and m._meta.model_name == case.model
    )
    request = RequestFactory().get(f"/admin/aliases/{case.model}/", case.params)
    request.user = bench_user()
    view = admin.site._registry[model].changelist_view
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = view(request)
        response.render()
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{case.name}: HTTP {response.status_code}")
    return elapsed, captured.captured_queries


def explain(queries: list[dict]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for query in queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            print(
                f"    {query['sql'][:160]}\n"
                + "\n".join("      " + line for line in plan.splitlines())
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    setup_django()
    keys = sample_keys()
    print(f"keys: {keys}")
    print(f"{'page':42} {'median':>8} {'min':>8} {'max':>8} {'queries':>8}")
    for case in cases(keys):
        if args.only not in case.name:
            continue
        render_once(case)  # warm the caches and the connection
        timings = []
        for _ in range(args.runs):
            elapsed, queries = render_once(case)
            timings.append(elapsed * 1000)
        print(
            f"{case.name:42} {statistics.median(timings):8.1f} {min(timings):8.1f}"
            f" {max(timings):8.1f} {len(queries):8}"
        )
        if args.explain:
            explain(queries)


if __name__ == "__main__":
    main()
