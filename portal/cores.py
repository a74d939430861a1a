"""How many CPUs this process may use: gunicorn's worker count and verify_audit's jobs."""

import os


def usable_cores() -> int:
    # The CPUs this process may run on (a container's cpuset), not the host's count, which
    # os.cpu_count() gives inside a container too.
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows: no affinity call
        return os.cpu_count() or 1
