"""Per-extension history, the audit trail page, exports, and the audit admin."""

import csv
import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from aliases import services
from aliases.models import AuditEvent, Extension

from .base import submit

Type = AuditEvent.Type


@pytest.fixture
def story(users, simulator):
    """1001 gets an alias created; 10010 (a longer login with 1001 as prefix) gets another."""
    Extension.objects.create(login="1001", extension="1001", protocol="SIP")
    simulator.state.add_phone("10010", protocol="IAX2")
    mine = submit(users["supervisor"], alias_id="ring_1001", logins="1001,1002")
    services.alias_request_approve(request_id=mine.pk, actor=users["admin"])
    longer = submit(users["supervisor"], alias_id="ring_10010", logins="10010")
    services.alias_request_approve(request_id=longer.pk, actor=users["admin"])
    return mine, longer


def history(client, login="1001", **params):
    return client.get(reverse("aliases:extension_history", args=[login]), params)


def test_extension_history_tells_the_whole_story(client_for, story):
    mine, longer = story
    page = history(client_for("auditor")).content.decode()
    assert "ring_1001" in page
    assert "ring_10010" not in page
    assert "SIP phone" in page
    assert "SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - 6666|ring_1001|" in page
    for label in [
        "Request created",
        "Request approved",
        "VICIdial call made",
        "Done in VICIdial",
    ]:
        assert label in page


def test_extension_history_is_recorded_as_viewed(client_for, users, story):
    about_1002 = [
        event.sequence for event in AuditEvent.objects.all() if "1002" in event.extensions
    ]
    shown = [max(about_1002), min(about_1002)]
    history(client_for("admin"), login="1002")
    viewed = AuditEvent.objects.filter(event_type=Type.AUDIT_VIEWED).get()
    assert (viewed.actor, viewed.extensions) == (users["admin"], ["1002"])
    # Which rows the look showed, newest and oldest: the record of what was seen.
    assert viewed.changes == {"extension": "1002", "shown": shown}


@pytest.mark.parametrize("persona", ["supervisor", "outsider"])
def test_extension_history_is_for_admins_and_auditors(client_for, story, persona):
    assert history(client_for(persona)).status_code == 403
    assert AuditEvent.objects.filter(event_type=Type.PERMISSION_DENIED).count() == 1


@pytest.fixture
def busy_extension(users):
    """120 events about 2001: sixty requests, each submitted and cancelled."""
    for number in range(60):
        alias_request = submit(users["supervisor"], alias_id=f"busy_{number}", logins="2001")
        services.alias_request_cancel(request_id=alias_request.pk, actor=users["supervisor"])
    return "2001"


def sequences(response) -> list[int]:
    """The sequence numbers of the rows the page shows, as a reader sees them."""
    table = response.content.decode().split('data-testid="events"', 1)[1]
    return [int(number) for number in re.findall(r"<tr>\s*<td>(\d+)</td>", table)]


def older(client, response):
    """Follows the page's "Older" link, as a person would."""
    link = re.search(r'href="\?([^"]*)">Older<', response.content.decode())
    assert link, "no Older link"
    return client.get(response.request["PATH_INFO"] + "?" + link[1].replace("&amp;", "&"))


def newer(client, response):
    link = re.search(r'href="\?([^"]*)">Newer<', response.content.decode())
    assert link, "no Newer link"
    return client.get(response.request["PATH_INFO"] + "?" + link[1].replace("&amp;", "&"))


def test_extension_history_paginates_newest_first(client_for, busy_extension):
    auditor = client_for("auditor")
    first = history(auditor, login=busy_extension)
    assert len(sequences(first)) == 50
    assert sequences(first) == sorted(sequences(first), reverse=True)
    second = older(auditor, first)
    third = older(auditor, second)
    # 120 request events; the looks themselves are newer than any page past the first.
    assert len(sequences(third)) == 20
    assert third.context["page"].events[-1].event_type == Type.REQUEST_CREATED
    assert "Older<" not in third.content.decode()
    assert sequences(newer(auditor, third)) == sequences(second)


@pytest.mark.parametrize("page", ["audit", "extension"])
def test_the_next_page_after_a_look_repeats_no_row(client_for, busy_extension, page):
    """Each look adds an event at the head; offset pages then started with a row already seen."""
    auditor = client_for("auditor")

    def look(**params):
        if page == "audit":
            return auditor.get(reverse("aliases:audit_list"), params)
        return history(auditor, login=busy_extension, **params)

    first = look()
    look()  # someone else's look in between: one more event at the head
    second = older(auditor, first)
    assert sequences(second)
    assert not set(sequences(first)) & set(sequences(second))
    assert max(sequences(second)) == min(sequences(first)) - 1


@pytest.mark.parametrize("url", ["audit", "extension"])
def test_trail_pages_count_nothing(client_for, busy_extension, url, django_assert_max_num_queries):
    """An exact COUNT of a big audit table is a full scan; keyset pages need none."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    target = (
        reverse("aliases:audit_list")
        if url == "audit"
        else reverse("aliases:extension_history", args=[busy_extension])
    )
    auditor = client_for("auditor")
    with CaptureQueriesContext(connection) as queries:
        auditor.get(target, {"before": 100})
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def test_a_page_link_that_is_not_valid_shows_no_rows(client_for, busy_extension):
    auditor = client_for("auditor")
    for params in ({"before": "abc"}, {"before": "5", "after": "7"}, {"after": "-1"}):
        response = history(auditor, login=busy_extension, **params)
        assert response.status_code == 200
        assert sequences(response) == []
        assert "This page link is not valid" in response.content.decode()


def test_audit_page_filters_exactly(client_for, story):
    auditor = client_for("auditor")
    response = auditor.get(reverse("aliases:audit_list"), {"extension": "1001"})
    shown = {event.request.alias_id for event in response.context["page"].events if event.request}
    assert shown == {"ring_1001"}
    response = auditor.get(reverse("aliases:audit_list"), {"event_type": Type.VICIDIAL_CALL})
    assert {e.event_type for e in response.context["page"].events} == {Type.VICIDIAL_CALL}


def exported(client, fmt, **filters):
    response = client.get(reverse("aliases:audit_export", args=[fmt]), filters)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_csv_export_follows_the_filters_and_is_audited(client_for, users, story):
    text = exported(client_for("auditor"), "csv", extension="1001")
    rows = list(csv.DictReader(io.StringIO(text)))
    # The export is itself an event about 1001, written before the rows are read.
    assert [row["event_type"] for row in rows if not row["request_id"]] == [Type.AUDIT_EXPORTED]
    assert {row["request_id"] for row in rows if row["request_id"]} == {str(story[0].pk)}
    assert [int(row["sequence"]) for row in rows] == sorted(int(row["sequence"]) for row in rows)
    exported_event = AuditEvent.objects.filter(event_type=Type.AUDIT_EXPORTED).get()
    assert exported_event.actor == users["auditor"]
    assert exported_event.changes == {"filters": {"extension": "1001"}, "format": "csv"}


def test_jsonl_export_verifies_away_from_the_portal(client_for, story, tmp_path):
    text = exported(client_for("auditor"), "jsonl")
    path = tmp_path / "audit.jsonl"
    path.write_text(text)
    lines = [json.loads(line) for line in text.splitlines()]
    assert {"hash", "prev_hash", "sequence"} <= lines[0].keys()
    output = io.StringIO()
    call_command("verify_audit", "--export", str(path), stdout=output)
    assert output.getvalue().startswith(f"OK: {len(lines)} exported events verify\n")

    lines[1]["reason"] = "doctored"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    with pytest.raises(Exception, match="line 2: event #2 was altered"):
        call_command("verify_audit", "--export", str(path), stdout=io.StringIO())


@pytest.mark.parametrize("persona", ["admin", "supervisor"])
def test_only_auditors_export(client_for, story, persona):
    response = client_for(persona).get(reverse("aliases:audit_export", args=["csv"]))
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(event_type=Type.AUDIT_EXPORTED).exists()


def test_exports_never_hold_the_vicidial_password(client_for, users, simulator, settings):
    wrong = "Leak" + settings.VICIDIAL_API_PASS[::-1]
    settings.VICIDIAL_API_PASS = wrong
    alias_request = submit(users["supervisor"])
    services.alias_request_approve(request_id=alias_request.pk, actor=users["admin"])
    auditor = client_for("auditor")
    text = exported(auditor, "csv") + exported(auditor, "jsonl")
    assert "Login incorrect" in text
    assert wrong not in text
    assert wrong not in history(auditor, login="1001").content.decode()


def test_request_page_shows_its_timeline(client_for, story):
    page = client_for("supervisor").get(reverse("aliases:request_detail", args=[story[0].pk]))
    timeline = [event.event_type for event in page.context["timeline"]]
    assert timeline == [
        Type.REQUEST_CREATED,
        Type.REQUEST_APPROVED,
        Type.REQUEST_CALL_STARTED,
        Type.VICIDIAL_CALL,
        Type.REQUEST_SUCCEEDED,
    ]


def test_audit_admin_searches_exact_extension_and_refuses_writes(story):
    superuser = get_user_model().objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(superuser)
    changelist = reverse("admin:aliases_auditevent_changelist")
    found = client.get(changelist, {"q": "1001"}).context["cl"].result_list
    assert {event.request.alias_id for event in found if event.request} == {"ring_1001"}
    found = client.get(changelist, {"q": "ring_10010"}).context["cl"].result_list
    assert {event.request.alias_id for event in found} == {"ring_10010"}
    event = AuditEvent.objects.first()
    assert client.get(reverse("admin:aliases_auditevent_add")).status_code == 403
    change = client.get(reverse("admin:aliases_auditevent_change", args=[event.pk]))
    assert 'name="_save"' not in change.content.decode()
    delete = client.post(
        reverse("admin:aliases_auditevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403


def test_request_form_and_approval_screen_show_protocols(client_for, users):
    Extension.objects.create(login="1001", protocol="SIP", description="Front desk")
    Extension.objects.create(login="2001", protocol="IAX2", description="Branch office")
    form_page = client_for("supervisor").get(reverse("aliases:request_new")).content.decode()
    assert "Front desk" in form_page and "IAX2" in form_page
    alias_request = submit(users["supervisor"], logins="1001,2001,cc100")
    approval = client_for("admin").get(reverse("aliases:request_detail", args=[alias_request.pk]))
    phones = approval.content.decode().split('data-testid="phones"')[1].split("</dd>")[0]
    assert phones.index("1001") < phones.index("SIP") < phones.index("2001") < phones.index("IAX2")
    assert "not in catalogue" in phones.rsplit("cc100", 1)[1]


def test_extension_lookup_opens_the_history(client_for):
    auditor = client_for("auditor")
    response = auditor.get(reverse("aliases:extension_lookup"), {"login": " 1001 "})
    assert response["Location"] == reverse("aliases:extension_history", args=["1001"])
    response = auditor.get(reverse("aliases:extension_lookup"), {"login": "10 01"}, follow=True)
    assert "Enter a phone login" in response.content.decode()
    assert history(auditor, login="bad.login").status_code == 404
