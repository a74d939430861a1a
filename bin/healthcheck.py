"""Docker's HEALTHCHECK: exit 0 when this container's /healthz/live answers 200, 1 otherwise.

Liveness only (gunicorn and the database): a VICIdial outage must not mark every web
container unhealthy while its pages still work; /healthz tells monitoring about VICIdial.

Standard library only (no curl in the image). The worker and migrate containers run the same
image without a web server; for them there is nothing to probe, so they count as healthy
rather than being restarted in the middle of a VICIdial call (the home page warns when no
worker has been seen).
"""

import os
import sys
import urllib.request
from pathlib import Path


def serves_web() -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"gunicorn" in cmdline.read_bytes():
                return True
        except OSError:  # the process ended while we looked
            continue
    return False


def main() -> int:
    if not serves_web():
        return 0
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz/live"
    try:
        # Fixed loopback URL: nothing here comes from outside the container.
        with urllib.request.urlopen(url, timeout=8) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError as error:  # a 503 raises HTTPError, a dead server URLError
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
