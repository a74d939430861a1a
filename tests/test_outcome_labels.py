"""Outcomes and statuses as people read them: every outcome code the portal records has a
label on the pages (the exports keep the codes), and labels put mid-sentence keep VICIdial's
capitals. The extension page says where to go about an alias the inventory lacks."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from aliases.audit import AuditContext, record
from aliases.models import AliasRequest, AuditEvent, VicidialCall
from aliases.outcomes import OTHER_OUTCOMES, outcome_label
from aliases.templatetags.portal import lowerfirst

from .base import submit
from .inventory_helpers import adopted_alias, text_of

Type = AuditEvent.Type
ALIASES = Path(__file__).resolve().parent.parent / "aliases"
# `outcome="x"`, `outcome = "x"`, `outcome, reason = "x", ...` and `"a" if ... else "b"`.
WRITTEN = re.compile(r"\boutcome(?:\s*,\s*reason)?\s*=\s*(.+)")


def outcomes_written_in_the_code() -> set[str]:
    found = set()
    for path in ALIASES.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for match in WRITTEN.finditer(path.read_text()):
            found |= set(re.findall(r'"([a-z_]+)"', match.group(1).split(" reason")[0]))
    return found


def test_the_scan_finds_the_outcomes_the_services_write():
    written = outcomes_written_in_the_code()
    # Guards the scan itself: these are written as literals in circuit, drift, adopt, signals.
    assert {"open", "closed", "in_step", "drift", "nothing_adopted", "locked_out"} <= written


@pytest.mark.parametrize(
    "code",
    sorted(
        outcomes_written_in_the_code()
        | set(AliasRequest.Status.values)
        | set(VicidialCall.Result.values)
    ),
)
def test_every_outcome_the_portal_writes_has_a_label(code):
    label = outcome_label(code)
    assert label != code.replace("_", " "), code
    assert label[0].isupper()


@pytest.mark.parametrize(
    ("code", "event_type", "label"),
    [
        (
            "needs_verification",
            Type.REQUEST_NEEDS_VERIFICATION,
            "Outcome unknown: needs verification",
        ),
        ("calling", Type.REQUEST_APPROVED, "Calling VICIdial"),
        ("succeeded", Type.REQUEST_SUCCEEDED, "Done in VICIdial"),
        ("failed", Type.REQUEST_FAILED, "Failed in VICIdial"),
        ("rejected", Type.REQUEST_REJECTED, "Rejected"),
        ("succeeded", Type.VICIDIAL_CALL, "Succeeded"),
        ("rejected", Type.VICIDIAL_CALL, "Refused by VICIdial"),
        ("not_sent", Type.VICIDIAL_CALL, "Not sent"),
        ("unknown", Type.CALL_RECONCILED, "Outcome unknown"),
        ("failed", Type.LOGIN_FAILED, "Failed"),
        ("locked_out", Type.LOGIN_FAILED, "Locked out"),
        ("open", Type.CIRCUIT_OPENED, "Calls stopped"),
        ("closed", Type.CIRCUIT_RESET, "Calls resumed"),
        ("in_step", Type.DRIFT_CHECKED, "In step with VICIdial"),
        ("nothing_adopted", Type.ALIASES_ADOPTED, "Nothing adopted"),
        ("some_new_code", Type.VICIDIAL_CALL, "some new code"),
        ("", "", ""),
    ],
)
def test_the_event_type_says_which_meaning_a_code_has(code, event_type, label):
    assert outcome_label(code, event_type) == label


def test_labels_of_other_events_are_not_request_or_call_labels():
    assert set(OTHER_OUTCOMES) & set(VicidialCall.Result.values) == set()
    assert outcome_label("failed", Type.LOGIN_FAILED) != outcome_label(
        "failed", Type.REQUEST_FAILED
    )


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("Created in VICIdial", "created in VICIdial"),
        (
            "Ask to enable it (create it in VICIdial again)",
            "ask to enable it (create it in VICIdial again)",
        ),
        ("Active", "active"),
        ("VICIdial calls stopped", "VICIdial calls stopped"),
        ("A", "a"),
        ("", ""),
    ],
)
def test_lowerfirst_lowers_only_the_first_letter(label, shown):
    assert lowerfirst(label) == shown


def _outcome_cells(response) -> list[str]:
    table = response.content.decode().split('data-testid="events"', 1)[1]
    body = table.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[6].strip() for row in rows]


@pytest.fixture
def labelled_events(users):
    context = AuditContext.system("test")
    record(event_type=Type.CIRCUIT_OPENED, context=context, outcome="open")
    record(event_type=Type.DRIFT_CHECKED, context=context, outcome="nothing_adopted")
    record(event_type=Type.VICIDIAL_CALL, context=context, outcome="not_sent")
    return submit(users["supervisor"])


def test_the_audit_page_shows_labels_and_the_exports_keep_the_codes(labelled_events, client_for):
    auditor = client_for("auditor")

    cells = _outcome_cells(auditor.get(reverse("aliases:audit_list")))
    response = auditor.get(reverse("aliases:audit_export", args=["csv"]))
    rows = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))

    assert {"Calls stopped", "Nothing adopted", "Not sent", "Pending approval"} <= set(cells)
    assert not {"open", "nothing_adopted", "not_sent", "pending"} & set(cells)
    assert {"open", "nothing_adopted", "not_sent", "pending"} <= {row["outcome"] for row in rows}


def test_the_request_timeline_shows_the_label(labelled_events, client_for):
    response = client_for("admin").get(reverse("aliases:request_detail", args=[labelled_events.pk]))

    timeline = text_of(response).split("Timeline", 1)[1]
    assert "· Pending approval" in timeline and "· pending" not in timeline


def test_a_live_request_reads_as_part_of_the_sentence(users, client_for):
    alias = adopted_alias("sales_desk", ["1001"])
    live = AliasRequest.objects.create(
        kind=AliasRequest.Kind.CHANGE,
        alias_record=alias,
        alias_id="sales_desk",
        alias_name="Sales",
        justification="x",
        requester=users["supervisor"],
        status=AliasRequest.Status.CALLING,
    )

    page = text_of(client_for("admin").get(reverse("aliases:alias_detail", args=[alias.pk])))

    assert f"#{live.pk} change, calling VICIdial" in page


def test_the_drift_page_keeps_vicidials_capitals_in_the_fix(client_for, settings, vicidial_db):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    vicidial_db.add_phone("1001")
    adopted_alias("missing", ["1001"])  # the inventory has it, VICIdial does not

    response = client_for("auditor").get(reverse("aliases:drift"), {"server": "default"})

    fixes = re.findall(r'data-testid="drift-fix-text">(.*?)</span>', response.content.decode())
    assert fixes and all(fix.startswith("An admin can: ask to") for fix in fixes)
    assert any("VICIdial" in fix for fix in fixes)
    assert not any("vicidial" in fix for fix in fixes)


# --- the extension page's way forward ------------------------------------------------------


@pytest.fixture
def ghost_in_vicidial(settings, vicidial_db):
    settings.VICIDIAL_DB_URL = vicidial_db.url
    vicidial_db.add_alias("ghost_desk", "Made by hand", "cc100,1001")


def _extension_page(client: Client):
    response = client.get(reverse("aliases:extension_history", args=["1001"]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_alias_the_inventory_lacks_links_to_the_drift_page(ghost_in_vicidial, client_for):
    page = _extension_page(client_for("auditor"))

    assert 'data-testid="drift-way-forward"' in page
    assert f'href="{reverse("aliases:drift")}?server=default"' in page
    assert "an admin can adopt this one into the inventory" in page


def test_no_drift_link_for_who_may_not_compare(ghost_in_vicidial, users):
    reader = get_user_model().objects.create_user(username="reader", password="x", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(reader)

    page = _extension_page(client)

    assert 'data-testid="not-in-inventory"' in page
    assert 'data-testid="drift-way-forward"' not in page
    assert reverse("aliases:drift") not in page
