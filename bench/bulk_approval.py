"""How long an admin waits for a bulk approval, and how long the batch page takes: prints
the figures.

    .venv/bin/python bench/bulk_approval.py [REQUESTS]   (default 200; PostgreSQL on PG_SERVER)

Builds a scratch database with REQUESTS pending requests, then times `requests_approve_many`
of all of them with the production task backend (the database queue: each approval commits
and enqueues, no VICIdial call is made here), then the batch page as the live view fetches
it, with every call still queued. The scratch database is dropped afterwards.
"""

import sys
import time

from scratch import scratch_database, user_with_role

SETTINGS = {
    "ALLOWED_HOSTS": "testserver",
    # Never called: the approvals only need settings that could make a call.
    "VICIDIAL_API_URL": "https://vicidial.invalid/vicidial/non_agent_api.php",
    "VICIDIAL_API_USER": "6666",
    "VICIDIAL_API_PASS": "bench-only-password",
}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with scratch_database("portal_bench_bulk_approval", **SETTINGS):
        from django.test import Client
        from django.urls import reverse

        from aliases.roles import Role
        from aliases.selectors_batches import batch_progress
        from aliases.services import alias_request_submit, requests_approve_many

        asker = user_with_role("asker", Role.SUPERVISOR)
        admin = user_with_role("boss", Role.ADMIN, is_staff=True)
        ids = [
            alias_request_submit(
                requester=asker,
                alias_id=f"bench_{n}",
                alias_name=f"Desk {n}",
                phone_logins="1001, 1002",
                justification="Benchmark request.",
            ).pk
            for n in range(count)
        ]

        start = time.perf_counter()
        batch = requests_approve_many(request_ids=ids, actor=admin, note="Benchmark.")
        seconds = time.perf_counter() - start
        each = seconds / count * 1000
        print(f"{f'approve {count} requests in bulk':<34} {seconds:6.2f} s  ({each:.1f} ms each)")

        start = time.perf_counter()
        progress = batch_progress(batch)
        progress_ms = (time.perf_counter() - start) * 1000
        print(f"{'batch_progress':<34} {progress_ms:6.1f} ms  ({progress.remaining} queued)")

        client = Client()
        client.force_login(admin)
        url = reverse("aliases:batch_detail", args=[batch.pk])
        client.get(url)  # templates compiled, connections warm
        runs = 5
        start = time.perf_counter()
        for _ in range(runs):
            response = client.get(url)
        page_ms = (time.perf_counter() - start) / runs * 1000
        size = len(response.content) / 1024
        print(f"{'batch page, one live refresh':<34} {page_ms:6.1f} ms  ({size:.0f} KB)")


if __name__ == "__main__":
    main()
