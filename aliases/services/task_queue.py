"""What the task queue still holds, where the backend can tell: the database queue can be
read like any table; other backends (RQ) cannot, and the callers then assume nothing waits
(a duplicate task is harmless: the request's state or a lock decides)."""

from datetime import datetime

from django.db.models import Q
from django_tasks import TaskResultStatus
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult


def live_task_arguments(task, *, running_since: datetime | None = None) -> list[dict]:
    """The arguments ({"args": [...], "kwargs": {...}}) of `task`'s tasks still waiting to
    run, and of those running since `running_since` if given (one running for longer
    belonged to a worker that was killed). Empty where the backend cannot tell."""
    if not isinstance(task.get_backend(), DatabaseBackend):
        return []
    live = Q(status=TaskResultStatus.READY)
    if running_since is not None:
        live |= Q(status=TaskResultStatus.RUNNING, started_at__gte=running_since)
    return list(
        DBTaskResult.objects.filter(live, task_path=task.module_path).values_list(
            "args_kwargs", flat=True
        )
    )
