"""Numbered lists count at most COUNT_CAP rows, and say "more than" past it."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aliases import pagination
from aliases.models import Alias
from aliases.pagination import CappedPaginator
from aliases.views import requests as views_requests

from .base import submit
from .inventory_helpers import adopted_alias


def test_the_count_stops_one_row_past_the_cap(db):
    for number in range(6):
        adopted_alias(f"ring_{number}", [f"10{number}"])
    with CaptureQueriesContext(connection) as queries:
        paginator = CappedPaginator(Alias.objects.all(), 2, cap=3)
        assert (paginator.count, paginator.capped, paginator.num_pages) == (3, True, 2)
    assert len(queries) == 1 and "LIMIT 4" in queries[0]["sql"]
    exact = CappedPaginator(Alias.objects.all(), 2, cap=6)
    assert (exact.count, exact.capped, exact.num_pages) == (6, False, 3)


def test_the_inventory_says_more_than_past_the_cap(users, client_for, monkeypatch):
    for number in range(31):
        adopted_alias(f"ring_{number:02d}", [f"20{number:02d}"])
    monkeypatch.setattr(pagination, "COUNT_CAP", 30)
    page = client_for("supervisor").get(reverse("aliases:inventory")).content.decode()
    assert "Page 1 of more than 2" in page
    assert 'aria-current="page"' in page and 'rel="next"' in page
    assert "More than 30 match: narrow the search" in page
    monkeypatch.setattr(pagination, "COUNT_CAP", 31)
    page = client_for("supervisor").get(reverse("aliases:inventory")).content.decode()
    assert "Page 1 of 2<" in page and "more than" not in page


def unlimited_counts(queries) -> list[str]:
    """COUNTs of requests without a LIMIT: the ones that read every matching row."""
    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    return [sql for sql in counts if "aliases_aliasrequest" in sql and "LIMIT" not in sql]


def test_the_request_list_says_more_than_past_the_cap(users, client_for, monkeypatch):
    for number in range(5):
        submit(users["supervisor"], alias_id=f"capped_{number}")
    monkeypatch.setattr(views_requests, "PAGE_SIZE", 2)
    monkeypatch.setattr(pagination, "COUNT_CAP", 4)
    client = client_for("auditor")
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("aliases:request_list")).content.decode()
    assert "Page 1 of more than 2" in page
    assert "More than 4 match: narrow the search" in page
    assert not unlimited_counts(queries)
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    page = client.get(reverse("aliases:request_list")).content.decode()
    assert "Page 1 of 3<" in page and "more than" not in page.lower()


def test_the_home_queue_says_more_than_past_the_cap(users, client_for, monkeypatch):
    for number in range(3):
        submit(users["supervisor"], alias_id=f"waiting_{number}")
    monkeypatch.setattr(views_requests, "QUEUE_SIZE", 1)
    monkeypatch.setattr(pagination, "COUNT_CAP", 2)
    client = client_for("admin")
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("aliases:home")).content.decode()
    assert "More than 2 waiting requests" in page
    assert not unlimited_counts(queries)
    monkeypatch.setattr(pagination, "COUNT_CAP", 3)
    page = client.get(reverse("aliases:home")).content.decode()
    assert "All 3 waiting requests" in page and "More than" not in page


def test_a_capped_count_does_not_sort_what_it_counts(db):
    for number in range(3):
        adopted_alias(f"sorted_{number}", [f"30{number}"])
    with CaptureQueriesContext(connection) as queries:
        paginator = CappedPaginator(Alias.objects.order_by("-alias_id"), 2, cap=5)
        assert (paginator.count, paginator.capped) == (3, False)
        assert pagination.capped_count(Alias.objects.order_by("alias_id"), cap=2) == (2, True)
    assert len(queries) == 2
    assert not [query["sql"] for query in queries if "ORDER BY" in query["sql"]]
