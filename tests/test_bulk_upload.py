"""Bulk requests by CSV upload: each row held to the forms' rules and made by the submit
services, one batch per file, all or nothing or row by row, a re-upload recognised, and the
file's limits (encoding, size, rows, header) refused with what to do."""

import csv
import hashlib
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from aliases.models import Alias, AliasRequest, AuditEvent, RequestBatch
from aliases.services.bulk_upload import requests_upload
from aliases.services.upload_csv import COLUMNS, MAX_BYTES, MAX_ROWS

from .base import race, submit
from .inventory_helpers import adopted_alias, text_of

Type = AuditEvent.Type
HEADER = list(COLUMNS)


def csv_bytes(*rows: list[str], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    return buffer.getvalue().encode()


def upload(user, content: bytes, *, all_or_nothing: bool = True, filename: str = "reqs.csv"):
    return requests_upload(
        requester=user, filename=filename, content=content, all_or_nothing=all_or_nothing
    )


def problems(outcome) -> dict[tuple[int, str], str]:
    return {(error.row, error.column): error.problem for error in outcome.errors}


@pytest.fixture
def inventory(db):
    """An active alias to change or disable, and a disabled one to enable."""
    return {
        "active": adopted_alias("support_line", ["1003", "1004"], name="Support"),
        "disabled": adopted_alias(
            "old_desk", ["1005"], name="Old desk", state=Alias.State.DISABLED
        ),
    }


GOOD_ROWS = [
    ["", "add", "sales_desk", "Sales desk", "1001, 1002", "New sales team."],
    ["default", "CHANGE", "SUPPORT_LINE", "Support line", "1003", "Desk 1004 moved."],
    ["", "enable", "old_desk", "", "", "The old desk is back."],
]
# Row numbers as in the file: the header is row 1, GOOD_ROWS are rows 2 to 4.
BAD_ROWS = [
    ["", "add", "north_desk", "North desk #1", "1006", "Hash in the name."],  # row 5
    ["", "remove", "south_desk", "South desk", "1007", "Not a kind."],  # row 6
    ["", "add", "east_desk", "East desk", "1008;1009", "Semicolons."],  # row 7
    ["", "change", "nowhere", "Nowhere", "1010", "Not in the inventory."],  # row 8
    ["", "add", "Sales_Desk", "Sales again", "1011", "Same alias as row 2."],  # row 9
]


def test_valid_rows_become_requests_of_one_batch(users, inventory):
    content = csv_bytes(*GOOD_ROWS)
    outcome = upload(users["supervisor"], content)

    assert outcome.errors == [] and outcome.created == 3, outcome.summary
    batch = RequestBatch.objects.get()
    assert outcome.batch == batch
    assert (batch.kind, batch.created_by, batch.filename) == (
        "upload",
        users["supervisor"],
        "reqs.csv",
    )
    assert batch.file_sha256 == hashlib.sha256(content).hexdigest()
    assert (batch.row_count, batch.row_errors, batch.all_or_nothing) == (3, [], True)
    made = {r.kind: r for r in batch.requests()}
    assert set(made) == {"add", "change", "enable"}
    assert all(r.status == AliasRequest.Status.PENDING for r in made.values())
    assert made["add"].logins_in_order() == ["1001", "1002"]
    assert made["change"].alias_record == inventory["active"]
    assert (made["change"].alias_name, made["change"].previous_name) == ("Support line", "Support")
    # An enable's empty cells keep what the inventory held, as its form is prefilled.
    assert made["enable"].alias_name == "Old desk"
    assert made["enable"].logins_in_order() == ["1005"]
    assert f"3 requests created as batch #{batch.pk}" in outcome.summary

    event = AuditEvent.objects.get(event_type=Type.BATCH_UPLOADED)
    assert event.request is None and event.actor == users["supervisor"]
    assert event.changes["batch"] == batch.pk
    assert (event.changes["rows"], event.changes["created"], event.changes["rows_skipped"]) == (
        3,
        3,
        0,
    )
    assert event.changes["filename"] == "reqs.csv"
    assert sorted(event.changes["requests"]) == sorted(r.pk for r in made.values())
    assert AuditEvent.objects.filter(event_type=Type.REQUEST_CREATED).count() == 3


def test_a_disable_is_checked_and_made_like_the_form_makes_it(users, inventory):
    outcome = upload(
        users["supervisor"],
        csv_bytes(
            ["", "disable", "support_line", "", "", "Team left."],
            ["", "disable", "old_desk", "", "", "Already disabled."],
        ),
        all_or_nothing=False,
    )
    (made,) = outcome.batch.requests()
    assert (made.kind, made.alias_record) == ("disable", inventory["active"])
    # The service's refusal (an alias already disabled) is that row's error, about its kind.
    assert list(problems(outcome)) == [(3, "kind")]
    assert "old_desk" in problems(outcome)[(3, "kind")]


def test_a_change_that_changes_nothing_is_refused(users, inventory):
    outcome = upload(
        users["supervisor"], csv_bytes(["", "change", "support_line", "", "1004, 1003", "x"])
    )
    assert list(problems(outcome)) == [(2, "alias_name")]
    assert "Nothing would change" in problems(outcome)[(2, "alias_name")]
    assert not AliasRequest.objects.exists()


def test_a_disable_with_other_values_is_refused(users, inventory):
    outcome = upload(
        users["supervisor"], csv_bytes(["", "disable", "support_line", "Other", "1009", "x"])
    )
    assert set(problems(outcome)) == {(2, "alias_name"), (2, "phone_logins")}
    assert not AliasRequest.objects.exists()


BAD_CELLS = {(5, "alias_name"), (6, "kind"), (7, "phone_logins"), (8, "alias_id"), (9, "alias_id")}


def assert_bad_rows_reported(outcome, also: frozenset = frozenset()) -> None:
    found = problems(outcome)
    assert set(found) == BAD_CELLS | also, found
    assert "VICIdial would silently delete: '#'" in found[(5, "alias_name")]
    assert "'remove' is not a kind" in found[(6, "kind")]
    assert "add, change, disable or enable" in found[(6, "kind")]
    assert "';'" in found[(7, "phone_logins")]
    assert "holds no alias 'nowhere'" in found[(8, "alias_id")]
    assert "already on row 2" in found[(9, "alias_id")]


def test_all_or_nothing_creates_nothing_and_reports_every_row(users, inventory):
    outcome = upload(users["supervisor"], csv_bytes(*GOOD_ROWS, *BAD_ROWS))

    assert_bad_rows_reported(outcome)
    assert outcome.batch is None and outcome.created == 0
    assert not AliasRequest.objects.exists()
    assert not RequestBatch.objects.exists()
    assert not AuditEvent.objects.filter(event_type=Type.BATCH_UPLOADED).exists()
    assert outcome.summary.startswith("Nothing was created: 5 rows have problems (of 8)")


def test_all_or_nothing_reports_a_services_refusal_too(users, inventory):
    live = submit(users["supervisor2"], alias_id="west_desk")
    content = csv_bytes(*GOOD_ROWS, ["", "add", "WEST_DESK", "West desk", "1012", "Again."])

    outcome = upload(users["supervisor"], content)

    assert list(problems(outcome)) == [(5, "alias_id")]
    assert f"already has a live request: #{live.pk}" in problems(outcome)[(5, "alias_id")]
    assert list(AliasRequest.objects.all()) == [live]
    assert not RequestBatch.objects.exists()
    assert not AuditEvent.objects.filter(event_type=Type.BATCH_UPLOADED).exists()


def test_without_all_or_nothing_the_valid_rows_are_created(users, inventory):
    live = submit(users["supervisor2"], alias_id="west_desk")
    content = csv_bytes(
        *GOOD_ROWS, *BAD_ROWS, ["", "add", "west_desk", "West desk", "1012", "Again."]
    )

    outcome = upload(users["supervisor"], content, all_or_nothing=False)

    assert_bad_rows_reported(outcome, also={(10, "alias_id")})
    assert "already has a live request" in problems(outcome)[(10, "alias_id")]
    batch = outcome.batch
    assert {r.alias_id for r in batch.requests()} == {"sales_desk", "support_line", "old_desk"}
    assert batch.row_count == 9 and not batch.all_or_nothing
    assert batch.row_errors == [error.as_json() for error in outcome.errors]
    assert {(e["row"], e["column"]) for e in batch.row_errors} == set(problems(outcome))
    assert AliasRequest.objects.exclude(pk=live.pk).count() == 3
    assert outcome.summary.startswith(f"3 requests created as batch #{batch.pk}, waiting")
    assert "; 6 rows were skipped. Fix the rows listed below" in outcome.summary
    event = AuditEvent.objects.get(event_type=Type.BATCH_UPLOADED)
    assert (event.changes["created"], event.changes["rows_skipped"]) == (3, 6)


def test_nothing_valid_creates_no_batch(users, inventory):
    # Without the rows it repeats, the last bad row is a good one.
    outcome = upload(users["supervisor"], csv_bytes(*BAD_ROWS[:-1]), all_or_nothing=False)
    assert outcome.batch is None and not RequestBatch.objects.exists()
    assert outcome.summary.startswith("Nothing was created: 4 rows have problems. Fix")


def test_the_same_file_again_is_recognised(users, inventory):
    content = csv_bytes(*GOOD_ROWS)
    first = upload(users["supervisor"], content)

    again = upload(users["supervisor"], content, all_or_nothing=False, filename="copy.csv")

    assert again.earlier_batch == first.batch and again.batch is None
    assert f"already uploaded, as batch #{first.batch.pk}" in again.summary
    assert RequestBatch.objects.count() == 1
    assert AliasRequest.objects.count() == 3
    assert AuditEvent.objects.filter(event_type=Type.BATCH_UPLOADED).count() == 1


def test_a_file_that_created_nothing_can_be_uploaded_again(users, inventory):
    live = submit(users["supervisor2"], alias_id="sales_desk")
    content = csv_bytes(*GOOD_ROWS)
    assert upload(users["supervisor"], content).batch is None
    AliasRequest.objects.filter(pk=live.pk).update(status=AliasRequest.Status.CANCELLED)

    assert upload(users["supervisor"], content).created == 3


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the file is empty"),
        (b"  \r\n", "the file is empty"),
        (",".join(HEADER).encode() + b"\r\n\r\n", "a header but no rows"),
        ("kind,alias_id\r\nadd,caf\u00e9\r\n".encode("latin-1"), "not UTF-8 text"),
        (",".join(HEADER).encode("utf-16"), "UTF-16"),
        (b"a" * (MAX_BYTES + 1), "larger than 512 KB"),
        (b"server;kind;alias_id;alias_name;phone_logins;justification\r\n", "';' between"),
    ],
    ids=["empty", "blank", "no-rows", "latin-1", "utf-16", "too-large", "semicolons"],
)
def test_files_that_cannot_be_read_are_refused(users, content, says):
    outcome = upload(users["supervisor"], content, all_or_nothing=False)
    assert outcome.refused and says in outcome.summary, outcome.summary
    assert outcome.summary.startswith("Nothing was created: ")
    assert not RequestBatch.objects.exists() and not AliasRequest.objects.exists()


def test_more_rows_than_one_upload_takes_are_refused(users):
    rows = [["", "add", f"desk_{n}", "Desk", "1001", "x"] for n in range(MAX_ROWS + 1)]
    outcome = upload(users["supervisor"], csv_bytes(*rows))
    assert f"has {MAX_ROWS + 1} rows; one upload takes at most {MAX_ROWS}" in outcome.refused
    assert not AliasRequest.objects.exists()


def test_the_header_names_its_problems(users):
    header = ["Kind", "alias_id", "name", "phone_logins", "kind"]
    outcome = upload(users["supervisor"], csv_bytes(["add"] * 5, header=header))
    found = problems(outcome)
    assert set(found) == {(1, "alias_name"), (1, "justification"), (1, "name"), (1, "kind")}
    assert "missing" in found[(1, "justification")]
    assert "'name' is not a column" in found[(1, "name")]
    assert "appears twice" in found[(1, "kind")]
    assert "the header row (row 1) must name the columns" in outcome.refused


def test_a_utf8_bom_is_accepted_and_the_server_column_is_optional(users):
    header = ["KIND", "Alias_ID", "alias_name", "phone_logins", "justification"]
    content = b"\xef\xbb\xbf" + csv_bytes(
        ["add", "sales_desk", "Sales", "1001", "x"], header=header
    )
    outcome = upload(users["supervisor"], content)
    assert outcome.created == 1, outcome.errors
    assert outcome.batch.requests().get().server == "default"


def test_spaces_after_the_commas_are_the_files_formatting(users):
    content = b"kind, alias_id, alias_name, phone_logins, justification\r\n"
    content += b'add, sales_desk, Sales desk, "1001, 1002", Typed by hand.\r\n'
    outcome = upload(users["supervisor"], content)
    made = outcome.batch.requests().get()
    assert (made.alias_name, made.logins_in_order()) == ("Sales desk", ["1001", "1002"])


def test_an_unknown_server_and_stray_cells_are_row_errors(users, settings):
    settings.VICIDIAL_SERVERS = {"east": {"API_URL": "http://127.0.0.1:9/x", "API_PASS": "p"}}
    content = csv_bytes(
        ["west", "add", "sales_desk", "Sales", "1001", "x"],
        ["east", "add", "sales_desk", "Sales", "1001", "x", "stray"],
        ["East", "add", "other_desk", "Other", "1001", "x"],
    )
    outcome = upload(users["supervisor"], content, all_or_nothing=False)
    found = problems(outcome)
    assert set(found) == {(2, "server"), (3, "")}
    assert (
        "'west' is not one of the portal's VICIdial servers (default, east)" in found[(2, "server")]
    )
    assert "column 7 has a value but no column name" in found[(3, "")]
    assert outcome.batch.requests().get().server == "east"


def test_only_those_who_may_submit_can_upload(users):
    with pytest.raises(PermissionDenied):
        upload(users["auditor"], csv_bytes(*GOOD_ROWS))


# The pages.


def test_the_template_downloads_and_uploads_back(client_for, users):
    # The demo data the template's example rows are about: a change needs its alias.
    adopted_alias("support_line", ["1003", "1004"], name="Support")
    response = client_for("supervisor").get(reverse("aliases:request_upload_template"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    assert [row[1] for row in rows[1:]] == ["add", "change"]
    outcome = upload(users["supervisor"], response.content)
    assert (outcome.created, outcome.errors) == (2, []), outcome.errors


def post_file(client, content: bytes, **data):
    upload_file = SimpleUploadedFile("mine.csv", content, content_type="text/csv")
    return client.post(reverse("aliases:request_upload"), {"file": upload_file, **data})


def test_the_upload_page_explains_the_file(client_for):
    response = client_for("supervisor").get(reverse("aliases:request_upload"))
    assert response.status_code == 200
    text = text_of(response)
    for column in COLUMNS:
        assert column in text
    assert f"At most {MAX_ROWS} rows and 512 KB" in text
    assert 'enctype="multipart/form-data"' in response.content.decode()
    assert reverse("aliases:request_upload_template") in response.content.decode()


def test_the_new_request_page_links_to_the_upload(client_for):
    response = client_for("supervisor").get(reverse("aliases:request_new"))
    assert reverse("aliases:request_upload") in response.content.decode()


def test_a_good_file_leads_to_its_batch(client_for, inventory):
    client = client_for("supervisor")
    response = post_file(client, csv_bytes(*GOOD_ROWS), all_or_nothing="on")

    batch = RequestBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/batches/{batch.pk}/")
    assert batch.all_or_nothing and batch.filename == "mine.csv"
    assert AuditEvent.objects.get(event_type=Type.BATCH_UPLOADED).source_ip == "127.0.0.1"

    again = post_file(client, csv_bytes(*GOOD_ROWS))
    assert again.status_code == 302 and again["Location"].endswith(f"/batches/{batch.pk}/")
    assert RequestBatch.objects.count() == 1


def test_someone_elses_earlier_upload_is_named_not_opened(client_for, inventory):
    assert post_file(client_for("supervisor"), csv_bytes(*GOOD_ROWS)).status_code == 302
    batch = RequestBatch.objects.get()

    response = post_file(client_for("supervisor2"), csv_bytes(*GOOD_ROWS))

    assert response.status_code == 200
    text = text_of(response)
    assert f"already uploaded, as batch #{batch.pk}; nothing new was created" in text
    # Another supervisor's batch is not theirs to see, nor who made it.
    assert "by supervisor" not in text
    assert RequestBatch.objects.count() == 1


def test_the_template_is_only_read(client_for):
    response = client_for("supervisor").post(reverse("aliases:request_upload_template"))
    assert response.status_code == 405


def test_problems_are_shown_row_by_row(client_for, inventory):
    response = post_file(
        client_for("supervisor"), csv_bytes(*GOOD_ROWS, *BAD_ROWS), all_or_nothing="on"
    )
    assert response.status_code == 200
    text = text_of(response)
    assert "Nothing was created: 5 rows have problems (of 8)" in text
    assert "Row Column Problem" in text
    assert "5 alias_name Alias name contains characters VICIdial would silently delete" in text
    assert "6 kind 'remove' is not a kind of request" in text
    assert not RequestBatch.objects.exists()


def test_skipped_rows_are_shown_with_the_batch(client_for, inventory):
    response = post_file(client_for("supervisor"), csv_bytes(*GOOD_ROWS, *BAD_ROWS))
    batch = RequestBatch.objects.get()
    assert response.status_code == 200
    text = text_of(response)
    assert f"3 requests created as batch #{batch.pk}" in text and "5 rows were skipped" in text
    assert reverse("aliases:batch_detail", args=[batch.pk]) in response.content.decode()
    assert "9 alias_id Alias 'Sales_Desk' is already on row 2" in text


def test_a_file_refused_whole_says_why(client_for):
    response = post_file(client_for("supervisor"), "caf\u00e9".encode("latin-1"))
    assert response.status_code == 200
    assert "Nothing was created: the file is not UTF-8 text" in text_of(response)


def test_no_file_is_asked_for(client_for):
    response = client_for("supervisor").post(reverse("aliases:request_upload"), {})
    assert response.status_code == 200
    assert "Choose the CSV file to upload." in text_of(response)


@pytest.mark.parametrize("name", ["request_upload", "request_upload_template"])
def test_an_auditor_is_refused(client_for, name):
    client = client_for("auditor")
    assert client.get(reverse(f"aliases:{name}")).status_code == 403
    assert post_file(client, csv_bytes(*GOOD_ROWS)).status_code == 403
    assert not RequestBatch.objects.exists()


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(reverse("aliases:request_upload"))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_same_file_uploaded_at_once_makes_one_batch(users):
    content = csv_bytes(*[["", "add", f"desk_{n}", "Desk", "1001", "x"] for n in range(20)])

    outcomes = race(2, lambda index: upload(users["supervisor"], content))

    batch = RequestBatch.objects.get()
    assert sorted(o.batch is None for o in outcomes) == [False, True], outcomes
    assert {o.earlier_batch for o in outcomes if o.batch is None} == {batch}
    assert AliasRequest.objects.filter(upload_batch=batch).count() == 20
    assert AliasRequest.objects.count() == 20
