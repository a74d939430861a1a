"""The request list searched by a phone login: an indexed lookup of the login's requests,
then the page of those ids, so its cost follows the login's requests, not the table."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aliases import selectors
from aliases.models import AliasRequest

from .base import submit


def _searched(client, login: str):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("aliases:request_list"), {"login": login})
    assert response.status_code == 200
    return response, [query["sql"] for query in queries]


def test_the_search_finds_each_request_asking_for_the_login_once(users, client_for):
    both = submit(users["supervisor"], alias_id="both_phones", logins="4101,4102")
    other = submit(users["supervisor"], alias_id="other_phone", logins="4102")
    submit(users["supervisor"], alias_id="not_this_one", logins="41010")
    response, _ = _searched(client_for("admin"), "4102")
    shown = [row.pk for row in response.context["page"].object_list]
    assert shown == [other.pk, both.pk]
    assert response.context["page"].paginator.count == 2


def test_the_search_reads_the_logins_index_then_the_requests_by_id(users, client_for):
    asked = submit(users["supervisor"], alias_id="indexed", logins="4201")
    _, queries = _searched(client_for("admin"), "4201")
    requests = [sql for sql in queries if 'FROM "aliases_aliasrequest"' in sql]
    assert requests, queries
    # No join to the logins and no DISTINCT over every column of the requests.
    assert not [sql for sql in requests if "DISTINCT" in sql or "aliases_requestedlogin" in sql]
    assert selectors.request_ids_with_login(" 4201 ") == [asked.pk]


def test_a_login_that_no_request_asks_for_shows_none(users, client_for):
    submit(users["supervisor"], alias_id="someone_else", logins="4301")
    response, _ = _searched(client_for("admin"), "4399")
    assert list(response.context["page"].object_list) == []
    assert AliasRequest.objects.count() == 1
