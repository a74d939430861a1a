"""The home page's "in flight or needing verification" queue: the oldest of those requests,
read per status from its index, so that the finished ones around them are never walked."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aliases import selectors
from aliases.models import AliasRequest

from .base import submit

Status = AliasRequest.Status


def _request(users, number: int, status: str, days_ago: int) -> int:
    alias_request = submit(users["supervisor"], alias_id=f"desk_{number}", logins=f"7{number:03d}")
    created = timezone.now() - timedelta(days=days_ago)
    AliasRequest.objects.filter(pk=alias_request.pk).update(status=status, created_at=created)
    return alias_request.pk


def test_the_queue_holds_the_oldest_of_every_status_in_flight_oldest_first(db, users):
    calling = _request(users, 1, Status.CALLING, days_ago=5)
    _request(users, 2, Status.SUCCEEDED, days_ago=9)
    queued = _request(users, 3, Status.QUEUED, days_ago=3)
    _request(users, 4, Status.NEEDS_VERIFICATION, days_ago=1)
    checking = _request(users, 5, Status.NEEDS_VERIFICATION, days_ago=7)
    oldest = selectors.alias_requests_needing_attention(oldest=3)
    assert [row.pk for row in oldest] == [checking, calling, queued]


@pytest.mark.skipif(
    not connection.features.supports_slicing_ordering_in_compound,
    reason="SQLite takes no LIMIT in a compound statement's arm",
)
def test_each_status_is_cut_to_the_queue_in_the_database(db, users):
    _request(users, 1, Status.QUEUED, days_ago=1)
    with CaptureQueriesContext(connection) as queries:
        list(selectors.alias_requests_needing_attention(oldest=7))
    (page,) = [query["sql"] for query in queries if "UNION" in query["sql"]]
    arms = page.split("UNION ALL")
    assert len(arms) == len(selectors.NEEDING_ATTENTION)
    assert all('"status" =' in arm and "LIMIT 7" in arm for arm in arms)
