"""The figures of issue 10's table, one function each, measured on the loaded database.

Each figure function takes the Subjects (what to look at, found in the data) and the run
count, and returns one or more Figures. Pages go through Django's test client, logged in
as the harness's superuser (an admin and an auditor), so every permission check, template
and middleware runs as in production; streamed exports are consumed in full.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from .scale_measure import Counts, Figure, counting, fetch, timed

SLOW_RUNS = 3  # exports, verify_audit and approvals: slow or writing


@dataclass(frozen=True)
class Subjects:
    """What the figures look at, picked from the data as loaded."""

    typical: str  # an extension with the median number of events
    typical_events: int
    busiest: str
    busiest_events: int
    busiest_last_page_before: int  # ?before= that shows the busiest's oldest 50 events
    request_pk: int  # a request with the most calls
    week_since: str
    week_until: str
    events: int


def find_subjects(week_end: datetime) -> Subjects:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lower(login), count(*) FROM aliases_auditeventextension GROUP BY 1 ORDER BY 2"
        )
        counted = cursor.fetchall()
        typical, typical_events = counted[len(counted) // 2]
        busiest, busiest_events = counted[-1]
        cursor.execute(
            "SELECT e.sequence FROM aliases_auditeventextension x JOIN aliases_auditevent e "
            "ON e.id = x.event_id WHERE lower(x.login) = %s ORDER BY e.sequence LIMIT 1 OFFSET 49",
            [busiest],
        )
        fiftieth = cursor.fetchone()
        cursor.execute(
            "SELECT request_id FROM aliases_vicidialcall GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
        request_pk = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM aliases_auditevent")
        events = cursor.fetchone()[0]
    since = (week_end - timedelta(days=7)).date()
    return Subjects(
        typical=typical,
        typical_events=typical_events,
        busiest=busiest,
        busiest_events=busiest_events,
        busiest_last_page_before=(fiftieth[0] + 1) if fiftieth else 1,
        request_pk=request_pk,
        week_since=since.isoformat(),
        week_until=(since + timedelta(days=6)).isoformat(),
        events=events,
    )


def extension_history(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    def history(login: str, query: str = "") -> str:
        return reverse("aliases:extension_history", args=[login]) + query

    busiest = subjects.busiest
    last_page = f"?before={subjects.busiest_last_page_before}"
    return [
        timed(
            f"extension history, typical extension ({subjects.typical_events:,} events)",
            fetch(client, history(subjects.typical)),
            runs,
        ),
        timed(
            f"extension history, busiest ({subjects.busiest_events:,} events), first page",
            fetch(client, history(busiest)),
            runs,
        ),
        timed(
            "extension history, busiest, last page",
            fetch(client, history(busiest, last_page)),
            runs,
        ),
    ]


def _changelist(model) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


def admin_searches(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    from aliases.models import Alias, AliasRequest, AuditEvent, Extension, VicidialCall

    query = "?" + urlencode({"q": subjects.busiest})
    return [
        timed(
            f"admin search by exact extension: {model._meta.verbose_name_plural}",
            fetch(client, _changelist(model) + query),
            runs,
        )
        for model in (AuditEvent, VicidialCall, Extension, AliasRequest, Alias)
    ]


def admin_changelists(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    """Every changelist the admin site registers, the two big ones first."""
    from aliases.models import AuditEvent, VicidialCall

    models = [AuditEvent, VicidialCall] + sorted(
        (model for model in admin.site._registry if model not in (AuditEvent, VicidialCall)),
        key=lambda model: (model._meta.app_label, model._meta.model_name),
    )
    return [
        timed(
            f"admin changelist: {model._meta.app_label}.{model._meta.model_name}",
            fetch(client, _changelist(model)),
            runs,
        )
        for model in models
    ]


def admin_filters(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    """The big changelists with a value filter and a date drill-down (the DISTINCT scans)."""
    from aliases.models import AuditEvent, VicidialCall

    since = datetime.fromisoformat(subjects.week_since)
    events, calls = _changelist(AuditEvent), _changelist(VicidialCall)
    cases = (
        ("audit events, event type filter", f"{events}?event_type__exact=request.approved"),
        (
            # The day range the admin's date filter links to (it replaced the drill-down,
            # whose year/month/day lookups no index serves).
            "audit events, date filter to one day",
            f"{events}?"
            + urlencode(
                {
                    "occurred_at__gte": since.date().isoformat(),
                    "occurred_at__lt": (since + timedelta(days=1)).date().isoformat(),
                }
            ),
        ),
        ("VICIdial calls, result filter", f"{calls}?result__exact=unknown"),
    )
    return [timed(f"admin changelist: {name}", fetch(client, url), runs) for name, url in cases]


def portal_pages(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    from aliases.models import Alias, RequestBatch

    week = urlencode({"since": subjects.week_since, "until": subjects.week_until})
    pages = [
        ("home", reverse("aliases:home"), (200,)),
        ("request list", reverse("aliases:request_list"), (200,)),
        (
            "request list, search by extension",
            reverse("aliases:request_list") + "?" + urlencode({"login": subjects.busiest}),
            (200,),
        ),
        (
            f"request detail (#{subjects.request_pk}, most calls)",
            reverse("aliases:request_detail", args=[subjects.request_pk]),
            (200,),
        ),
        ("audit list", reverse("aliases:audit_list"), (200,)),
        ("audit list, one-week date filter", reverse("aliases:audit_list") + "?" + week, (200,)),
        (
            "audit list, busiest extension filter",
            reverse("aliases:audit_list") + "?" + urlencode({"extension": subjects.busiest}),
            (200,),
        ),
        (
            "extension lookup (redirect)",
            reverse("aliases:extension_lookup") + "?" + urlencode({"login": subjects.busiest}),
            (302,),
        ),
        ("inventory", reverse("aliases:inventory"), (200,)),
        (
            "inventory, search by extension",
            reverse("aliases:inventory") + "?" + urlencode({"login": subjects.busiest}),
            (200,),
        ),
        ("drift", reverse("aliases:drift"), (200,)),
    ]
    alias = Alias.objects.order_by("-pk").first()
    if alias is not None:
        pages.append(("alias detail", reverse("aliases:alias_detail", args=[alias.pk]), (200,)))
    batch = RequestBatch.objects.order_by("-pk").first()
    if batch is not None:
        pages.append(("batch detail", reverse("aliases:batch_detail", args=[batch.pk]), (200,)))
    return [timed(name, fetch(client, url, expect=expect), runs) for name, url, expect in pages]


def exports(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    query = "?" + urlencode({"extension": subjects.busiest})
    return [
        timed(
            f"export of the busiest extension, {fmt.upper()}",
            fetch(client, reverse("aliases:audit_export", args=[fmt]) + query),
            min(runs, SLOW_RUNS),
            warm=False,
        )
        for fmt in ("csv", "jsonl")
    ]


def verify_audit(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    def run() -> str:
        output = io.StringIO()
        began = time.perf_counter()
        call_command("verify_audit", stdout=output)
        rate = subjects.events / (time.perf_counter() - began)
        if not output.getvalue().startswith("OK"):
            raise AssertionError(output.getvalue()[:200])
        return f"{rate:,.0f} events/s"

    return [timed("verify_audit (whole chain)", run, min(runs, SLOW_RUNS), warm=False)]


PREFLIGHT_TOKEN = re.compile(r'name="preflight_shown" value="([^"]*)"')


def approval(client: Client, subjects: Subjects, runs: int) -> list[Figure]:
    """One approval through HTTP (the admin's POST), then the worker's call path run in this
    process against the simulator; VICIdial's own answer time (duration_ms) taken out."""
    from django.contrib.auth import get_user_model

    from aliases.audit import AuditContext
    from aliases.models import VicidialCall
    from aliases.services import alias_request_submit
    from aliases.services.queue import alias_request_call

    requester = get_user_model().objects.get(username="supervisor01")
    post, worker, both = (
        Figure("approve POST (decision and enqueue)"),
        Figure("worker call path, minus VICIdial's answer"),
        Figure("one approval: POST + worker, minus VICIdial's answer"),
    )
    vicidial_ms = []
    stamp = int(time.time() * 1000) % 10**9
    try:
        for attempt in range(min(runs, SLOW_RUNS) + 1):  # the first is a warm-up
            alias_request = alias_request_submit(
                requester=requester,
                alias_id=f"bench{stamp}{attempt}",
                alias_name="Bench desk",
                phone_logins="1001,1002",
                justification="Measured by bench/scale.py.",
            )
            page = client.get(reverse("aliases:request_detail", args=[alias_request.pk]))
            token = PREFLIGHT_TOKEN.search(page.content.decode())
            approve_url = reverse("aliases:request_approve", args=[alias_request.pk])
            form = {"note": "", "preflight_shown": token[1] if token else ""}
            post_counts, worker_counts = Counts(), Counts()
            with counting(post_counts):
                began = time.perf_counter()
                response = client.post(approve_url, form)
                posted = time.perf_counter()
            if response.status_code != 302:
                raise AssertionError(f"approve answered {response.status_code}")
            with counting(worker_counts):
                started = time.perf_counter()
                outcome = alias_request_call(alias_request.pk, AuditContext())
                called = time.perf_counter()
            call = VicidialCall.objects.filter(request=alias_request).latest("pk")
            if attempt == 0:
                continue
            answer_ms = call.duration_ms or 0
            vicidial_ms.append(answer_ms)
            post.times_ms.append((posted - began) * 1000)
            worker.times_ms.append((called - started) * 1000 - answer_ms)
            both.times_ms.append(post.times_ms[-1] + worker.times_ms[-1])
            post.counts, worker.counts = post_counts, worker_counts
            both.counts = Counts(
                post_counts.queries + worker_counts.queries,
                post_counts.commits + worker_counts.commits,
                post_counts.head_locks + worker_counts.head_locks,
            )
            worker.note = outcome
    except Exception as error:  # noqa: BLE001
        both.failed = f"{type(error).__name__}: {error}"[:200]
    if vicidial_ms:
        both.note = f"VICIdial answered in {sorted(vicidial_ms)[len(vicidial_ms) // 2]} ms"
    return [post, worker, both]


# In the table's order; --only matches these names.
FIGURES = {
    "extension_history": extension_history,
    "admin_search": admin_searches,
    "admin_changelists": admin_changelists,
    "admin_filters": admin_filters,
    "portal_pages": portal_pages,
    "exports": exports,
    "verify_audit": verify_audit,
    "approval": approval,
}
