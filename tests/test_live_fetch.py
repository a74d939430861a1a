"""The live view's background fetches (static/js/live.js) leave the page's messages alone."""

from django.urls import reverse

from .base import submit


def test_a_live_fetch_does_not_use_up_a_message_meant_for_the_next_page(users, client_for):
    alias_request = submit(users["supervisor"])
    admin = client_for("admin")
    url = reverse("aliases:request_detail", args=[alias_request.pk])
    # A message another tab's action left in the session.
    admin.post(reverse("aliases:request_reject", args=[alias_request.pk]), {"note": ""})
    live = admin.get(url, headers={"x-requested-with": "live-refresh"})
    assert "Give the requester a reason" not in live.content.decode()
    page = admin.get(url)
    assert "Give the requester a reason" in page.content.decode()
