import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aliases.audit import EventType, verify_chain
from aliases.models import AuditEvent, Extension
from aliases.services import extensions as service
from aliases.services.extension_csv import RowError
from aliases.services.extensions import extensions_import_csv

GOOD = """login,protocol,extension,description,server_ip,known_to_vicidial
cc100,SIP,100,Front desk,10.0.0.5,yes
cc101,iax2,101,,10.0.0.5,no
cc102,zap,,Back office,,
"""


def run_import(text: str, **kwargs):
    return extensions_import_csv(stream=io.StringIO(text, newline=""), **kwargs)


def row_errors(text: str) -> list[tuple[int, str]]:
    report = run_import(text)
    assert not report.written
    return [(error.row, error.message) for error in report.errors]


def imported_events():
    return AuditEvent.objects.filter(event_type=EventType.EXTENSIONS_IMPORTED)


def test_a_good_file_creates_every_row(db):
    report = run_import(GOOD, file_name="phones.csv")

    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert report.written and not report.errors
    front = Extension.objects.get(login="cc100")
    assert (front.protocol, front.extension, front.description) == ("SIP", "100", "Front desk")
    assert (front.server_ip, front.known_to_vicidial) == ("10.0.0.5", True)
    assert Extension.objects.get(login="cc101").protocol == "IAX2"
    assert Extension.objects.get(login="cc102").protocol == "Zap"
    assert Extension.objects.get(login="cc102").known_to_vicidial is False


def test_one_audit_event_with_counts_file_and_logins(db):
    run_import(GOOD, file_name="phones.csv")

    event = imported_events().get()
    assert event.extensions == ["cc100", "cc101", "cc102"]
    assert event.changes["file"] == "phones.csv"
    assert (event.changes["created"], event.changes["updated"]) == (3, 0)
    assert verify_chain().ok


def test_second_import_counts_updates_and_unchanged_rows(db):
    run_import(GOOD)
    changed = GOOD.replace("Front desk", "Reception")

    report = run_import(changed)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    assert Extension.objects.get(login="cc100").description == "Reception"
    assert imported_events().first().extensions == ["cc100"]


def test_importing_the_same_file_again_writes_nothing(db):
    run_import(GOOD)

    report = run_import(GOOD)

    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert not report.written
    assert imported_events().count() == 1


def test_upsert_ignores_letter_case_and_adopts_the_files_spelling(db):
    Extension.objects.create(login="cc100", protocol="SIP", description="Old")

    report = run_import("login,protocol,description\nCC100,SIP,New\n")

    assert (report.created, report.updated) == (0, 1)
    only = Extension.objects.get()
    assert (only.login, only.description) == ("CC100", "New")


def test_a_column_left_out_of_the_file_is_left_alone(db):
    Extension.objects.create(login="cc100", protocol="SIP", description="Kept", server_ip="::1")

    report = run_import("login,protocol\ncc100,IAX2\n")

    assert report.updated == 1
    row = Extension.objects.get()
    assert (row.protocol, row.description, row.server_ip) == ("IAX2", "Kept", "::1")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (",SIP", "login is empty"),
        (
            "cc 1!,SIP",
            "login 'cc 1!' contains characters VICIdial would silently delete: space, '!'",
        ),
        ("a" * 16 + ",SIP", "is 16 characters long; VICIdial keeps at most 15"),
        ("cc1,PJSIP", "protocol 'PJSIP' is not one of SIP, IAX2, Zap, EXTERNAL"),
        ("cc1,", "protocol is empty; it must be one of SIP, IAX2, Zap, EXTERNAL"),
        ("cc1,SIP,10.0.0.300", "server_ip '10.0.0.300' is not an IPv4 or IPv6 address"),
        ("cc1,SIP,,maybe", "known_to_vicidial 'maybe' is not yes or no"),
        ("cc1,SIP,,,surplus", "column 5 has a value but no header"),
    ],
)
def test_each_invalid_value_is_named_with_its_row(db, line, message):
    text = f"login,protocol,server_ip,known_to_vicidial\ncc0,SIP\n{line}\n"

    errors = row_errors(text)

    assert len(errors) == 1
    assert errors[0][0] == 3
    assert message in errors[0][1]


def test_a_duplicate_login_names_the_earlier_row(db):
    errors = row_errors("login,protocol\ncc100,SIP\ncc101,SIP\nCC100,IAX2\n")

    assert errors == [
        (
            4,
            "login 'CC100' is already on row 2 "
            "(VICIdial compares logins without regard to letter case)",
        )
    ]


def test_every_problem_of_every_row_is_reported(db):
    errors = row_errors("login,protocol\nbad!,SIP\nok1,FAX\nbad?,FAX\n")

    assert [row for row, _ in errors] == [2, 3, 4, 4]


def test_row_numbers_are_spreadsheet_rows(db):
    # A quoted line break stays in its row and a blank line is a row, as a spreadsheet shows.
    text = 'login,protocol,description\ncc100,SIP,"two\nlines"\n\ncc 2,SIP,\n'

    assert row_errors(text)[0][0] == 4


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("login,extension", "missing column protocol"),
        ("login,protocol,proto", "unknown column 'proto'"),
        ("login,protocol,login", "column login appears twice"),
        ("login;protocol", "the file seems to use ';' between columns"),
    ],
)
def test_a_bad_header_is_one_clear_error(db, header, problem):
    errors = row_errors(f"{header}\ncc100,SIP\nbad!,nope\n")

    assert len(errors) == 1
    assert errors[0][0] == 1
    assert problem in errors[0][1]
    assert "login, protocol" in errors[0][1]


def test_header_names_ignore_case_spaces_and_a_byte_order_mark(db):
    report = run_import("\ufeff Login , PROTOCOL\ncc100,SIP\n")

    assert report.created == 1


def test_an_empty_file_is_an_error(db):
    assert row_errors("") == [(1, "the file is empty; the first row must be a header")]


def test_any_invalid_row_writes_nothing_and_records_nothing(db):
    Extension.objects.create(login="cc100", protocol="SIP", description="Untouched")
    before = list(Extension.objects.values_list("login", "protocol", "description"))

    report = run_import("login,protocol,description\ncc100,SIP,Changed\ncc200,SIP,\nbad!,SIP,\n")

    assert (report.created, report.updated, report.unchanged, report.written) == (0, 0, 0, False)
    assert report.rejected
    assert list(Extension.objects.values_list("login", "protocol", "description")) == before
    assert not imported_events().exists()


def test_a_failure_while_writing_rolls_back_every_row(db, monkeypatch):
    def audit_fails(**kwargs):
        raise RuntimeError("audit trail unavailable")

    monkeypatch.setattr(service, "record", audit_fails)

    with pytest.raises(RuntimeError):
        run_import(GOOD)

    assert not Extension.objects.exists()


def test_skip_invalid_writes_only_the_good_rows(db):
    report = run_import(
        "login,protocol\ncc100,SIP\nbad!,SIP\ncc101,FAX\ncc102,Zap\n", skip_invalid=True
    )

    assert report.written and not report.rejected
    assert (report.created, report.invalid_rows) == (2, 2)
    assert [error.row for error in report.errors] == [3, 4]
    assert set(Extension.objects.values_list("login", flat=True)) == {"cc100", "cc102"}
    assert imported_events().get().changes["skipped_rows"] == 2


def test_the_audit_event_lists_at_most_500_logins(db):
    rows = "".join(f"cc{number},SIP\n" for number in range(501))

    run_import("login,protocol\n" + rows)

    event = imported_events().get()
    assert len(event.extensions) == 500
    assert (event.changes["created"], event.changes["extensions_listed"]) == (501, 500)


def test_row_error_is_plain_data():
    assert RowError(3, "x") == RowError(row=3, message="x")


# The command


def call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_extensions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path: Path, content: str | bytes, name: str = "phones.csv") -> str:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


def test_command_prints_a_summary(db, tmp_path):
    out, err = call(write(tmp_path, GOOD))

    assert out.strip() == "Catalogue of default: 3 row(s) read: 3 created, 0 updated, 0 unchanged."
    assert err == ""
    assert imported_events().get().changes["file"] == "phones.csv"


def test_command_fails_and_lists_errors_when_it_wrote_nothing(db, tmp_path):
    err = io.StringIO()
    path = write(tmp_path, "login,protocol\ncc100,SIP\nbad!,SIP\ncc101,FAX\n")

    with pytest.raises(CommandError, match="Nothing was imported: 2 of 3 row"):
        call_command("import_extensions", path, stdout=io.StringIO(), stderr=err)

    assert err.getvalue().splitlines() == [
        "row 3: login 'bad!' contains characters VICIdial would silently delete: '!'",
        "row 4: protocol 'FAX' is not one of SIP, IAX2, Zap, EXTERNAL",
    ]
    assert not Extension.objects.exists()


def test_command_suggests_skip_invalid(db, tmp_path):
    path = write(tmp_path, "login,protocol\ncc100,SIP\nbad!,SIP\n")

    with pytest.raises(CommandError, match="--skip-invalid to import the other 1"):
        call(path)


def test_command_skip_invalid_succeeds_and_reports_skipped_rows(db, tmp_path):
    out, err = call(write(tmp_path, "login,protocol\ncc100,SIP\nbad!,SIP\n"), "--skip-invalid")

    assert "1 created" in out and "1 skipped as invalid" in out
    assert err.startswith("row 3: login 'bad!'")
    assert Extension.objects.filter(login="cc100").exists()


def test_command_fails_when_skip_invalid_leaves_no_valid_row(db, tmp_path):
    with pytest.raises(CommandError, match="Nothing was imported: 1 of 1 row"):
        call(write(tmp_path, "login,protocol\nbad!,SIP\n"), "--skip-invalid")


def test_command_fails_on_a_bad_header(db, tmp_path):
    with pytest.raises(CommandError, match="not a readable extension catalogue"):
        call(write(tmp_path, "user,protocol\ncc100,SIP\n"))


def test_command_reads_a_utf8_file_with_a_byte_order_mark(db, tmp_path):
    content = "\ufefflogin,protocol,description\r\ncc100,SIP,Café\r\n".encode()

    out, _ = call(write(tmp_path, content))

    assert "1 created" in out
    assert Extension.objects.get(login="cc100").description == "Café"


def test_command_refuses_a_file_that_is_not_utf8(db, tmp_path):
    content = "login,protocol,description\ncc100,SIP,Caf\xe9\n".encode("latin-1")

    with pytest.raises(CommandError, match=r"not UTF-8 text \(line 2 has byte 0xe9\)"):
        call(write(tmp_path, content))

    assert not Extension.objects.exists()


def test_command_refuses_a_missing_file(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.csv: No such file"):
        call(str(tmp_path / "missing.csv"))
