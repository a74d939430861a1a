"""How long a bulk upload of the largest file takes: prints the figures.

    .venv/bin/python bench/bulk_upload.py [ROWS]   (default 500; PostgreSQL on PG_SERVER)

Builds a scratch database, then times `requests_upload` of ROWS add rows: a file with one
bad row under all or nothing (every row is made, then undone), the same file row by row
(ROWS - 1 requests kept), and a clean file. The upload holds the audit chain's head lock
for its whole transaction, so the figure is also how long other audited writes wait.
The scratch database is dropped afterwards.
"""

import csv
import io
import sys
import time

from scratch import scratch_database, user_with_role


def csv_file(rows: int, prefix: str, *, bad_row: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["kind", "alias_id", "alias_name", "phone_logins", "justification"])
    for number in range(rows):
        name = "Desk #1" if bad_row and number == rows // 2 else f"Desk {number}"
        writer.writerow(["add", f"{prefix}{number}", name, "1001, 1002", "Benchmark row."])
    return buffer.getvalue().encode()


def timed(label: str, upload) -> None:
    start = time.perf_counter()
    outcome = upload()
    seconds = time.perf_counter() - start
    print(
        f"{label:<42} {seconds:6.2f} s  created {outcome.created:>3}, errors {len(outcome.errors)}"
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with scratch_database("portal_bench_upload"):
        from aliases.roles import Role
        from aliases.services.bulk_upload import requests_upload

        user = user_with_role("bench", Role.SUPERVISOR)

        def upload(content: bytes, all_or_nothing: bool):
            return lambda: requests_upload(
                requester=user, filename="bench.csv", content=content, all_or_nothing=all_or_nothing
            )

        with_bad_row = csv_file(rows, "a", bad_row=True)
        print(f"{rows} rows, {len(with_bad_row) / 1024:.0f} KB")
        timed("one bad row, all or nothing (nothing kept)", upload(with_bad_row, True))
        timed("one bad row, row by row", upload(with_bad_row, False))
        timed("clean file", upload(csv_file(rows, "b", bad_row=False), True))


if __name__ == "__main__":
    main()
