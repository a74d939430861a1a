"""Per-extension history, the audit trail page, exports, and the audit admin."""

import csv
import io
import json

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
    history(client_for("admin"), login="1002")
    viewed = AuditEvent.objects.filter(event_type=Type.AUDIT_VIEWED).get()
    assert (viewed.actor, viewed.extensions) == (users["admin"], ["1002"])
    assert viewed.changes == {"extension": "1002", "page": 1}


@pytest.mark.parametrize("persona", ["supervisor", "outsider"])
def test_extension_history_is_for_admins_and_auditors(client_for, story, persona):
    assert history(client_for(persona)).status_code == 403
    assert AuditEvent.objects.filter(event_type=Type.PERMISSION_DENIED).count() == 1


def test_extension_history_paginates_newest_first(client_for, users):
    for number in range(60):
        alias_request = submit(users["supervisor"], alias_id=f"busy_{number}", logins="2001")
        services.alias_request_cancel(request_id=alias_request.pk, actor=users["supervisor"])
    first = history(client_for("auditor"), login="2001")
    events = first.context["page"].object_list
    assert len(events) == 50
    assert [event.sequence for event in events] == sorted(
        (e.sequence for e in events), reverse=True
    )
    # 120 request events, plus the first look, which concerns 2001 too.
    third = history(client_for("auditor"), login="2001", page=3)
    assert len(third.context["page"].object_list) == 21
    assert third.context["page"].object_list[-1].event_type == Type.REQUEST_CREATED


def test_audit_page_filters_exactly(client_for, story):
    auditor = client_for("auditor")
    response = auditor.get(reverse("aliases:audit_list"), {"extension": "1001"})
    shown = {
        event.request.alias_id for event in response.context["page"].object_list if event.request
    }
    assert shown == {"ring_1001"}
    response = auditor.get(reverse("aliases:audit_list"), {"event_type": Type.VICIDIAL_CALL})
    assert {e.event_type for e in response.context["page"].object_list} == {Type.VICIDIAL_CALL}


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
    assert output.getvalue() == f"OK: {len(lines)} exported events verify\n"

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
