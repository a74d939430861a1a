"""The audit trail under attack: database guards, keyed MACs, signed digests, the index."""

import base64
import io
import json
import secrets

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from aliases import audit
from aliases.models import AuditChainHead, AuditDigest, AuditEvent, AuditEventExtension

from .base import race, submit
from .tampering import checkpoint, cut_tail, make_signing_key, rewrite, tamper, verify

Type = AuditEvent.Type


def other_key(key_id: str = "run") -> str:
    """A well-formed key ring the portal does not hold: what a forger without the key uses."""
    return f"{key_id}:" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def trail(users):
    for number in range(5):
        submit(users["supervisor"], alias_id=f"trail_{number}", logins="cc100,bb100")
    return list(AuditEvent.objects.order_by("sequence"))


@pytest.fixture
def signing(settings, tmp_path):
    """A signing key for audit_checkpoint, its public half, and the digests' folder."""
    private, public = make_signing_key(tmp_path)
    settings.AUDIT_SIGNING_KEY_FILE = str(private)
    folder = tmp_path / "digests"
    folder.mkdir()
    return folder, public


def with_digests(folder, public) -> tuple[str, ...]:
    return ("--digests", str(folder), "--public-key", str(public))


# --- the database guards (PostgreSQL) ---------------------------------------------------


REFUSALS = "append-only|pgtrigger: Cannot|head moves one written event forward"


def refused(sql: str, params=()) -> None:
    """`sql` fails, and because a guard refused it."""
    with connection.cursor() as cursor:
        # Else PostgreSQL refuses TRUNCATE for the test's own pending foreign-key checks.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        pytest.raises(DatabaseError, match=REFUSALS),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE aliases_auditevent CASCADE",
        "TRUNCATE aliases_auditeventextension",
        "TRUNCATE aliases_auditchainhead",
        "TRUNCATE aliases_auditdigest",
        # Cascading from the tables the events point at reaches the events too.
        "TRUNCATE auth_user CASCADE",
        "TRUNCATE aliases_aliasrequest CASCADE",
    ],
)
def test_truncate_of_any_audit_table_is_refused(trail, sql):
    refused(sql)
    assert AuditEvent.objects.count() == 5
    assert AuditEventExtension.objects.count() == 10
    assert AuditChainHead.objects.get().sequence == 5


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE aliases_auditevent SET reason = 'rewritten'",
        "DELETE FROM aliases_auditevent WHERE sequence = 5",
        "UPDATE aliases_auditeventextension SET login = '2001'",
        "DELETE FROM aliases_auditeventextension",
        "DELETE FROM aliases_auditchainhead",
        "UPDATE aliases_auditdigest SET sequence = 0",
        "DELETE FROM aliases_auditdigest",
    ],
)
def test_update_and_delete_are_refused(trail, signing, sql):
    checkpoint(signing[0])
    refused(sql)
    assert verify().startswith("OK: 5 events")
    assert AuditDigest.objects.count() == 1


@pytest.mark.postgres_only
def test_the_head_moves_only_forward_one_written_event_at_a_time(trail):
    refused("UPDATE aliases_auditchainhead SET sequence = 4, hash = %s", [trail[3].hash])
    refused("UPDATE aliases_auditchainhead SET sequence = 0, hash = ''")
    refused("UPDATE aliases_auditchainhead SET hash = %s", [trail[3].hash])
    refused("UPDATE aliases_auditchainhead SET sequence = 6, hash = %s", ["f" * 64])
    assert (AuditChainHead.objects.get().sequence, AuditChainHead.objects.get().hash) == (
        5,
        trail[-1].hash,
    )
    # The writer itself still moves it: one event, one step.
    audit.record(event_type=Type.AUDIT_VIEWED)
    assert AuditChainHead.objects.get().sequence == 6
    assert verify().startswith("OK: 6 events")


@pytest.mark.postgres_only
def test_a_role_granted_all_but_not_owning_the_tables_cannot_get_past_the_guards(trail):
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE audit_test_app")  # rolled back with the test
        cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO audit_test_app")
        cursor.execute("SET LOCAL ROLE audit_test_app")
    try:
        refused("TRUNCATE aliases_auditevent CASCADE")
        refused("DELETE FROM aliases_auditchainhead")
        with (
            pytest.raises(DatabaseError, match="must be owner"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("ALTER TABLE aliases_auditevent DISABLE TRIGGER USER")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert verify().startswith("OK: 5 events")


@pytest.mark.postgres_only
def test_inserted_index_rows_are_allowed_by_the_database_but_named(trail):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO aliases_auditeventextension (event_id, login) VALUES (%s, '2001')",
            [trail[1].pk],
        )
    with pytest.raises(CommandError, match=r"event #2: the per-extension index adds \['2001'\]"):
        verify()


@pytest.mark.postgres_only
def test_guards_switched_off_by_any_role_through_pgtrigger_ignore_are_still_named(trail):
    # pgtrigger lets a session skip its triggers by name (a setting any role may change):
    # the triggers stop mistakes, and verify_audit is what catches an attacker.
    names = "{" + ",".join(audit_trigger_ids()) + "}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [names])
        cursor.execute("UPDATE aliases_auditevent SET reason = 'rewritten' WHERE sequence = 2")
        cursor.execute("SELECT set_config('pgtrigger.ignore', NULL, true)")
    with pytest.raises(CommandError, match="event #2 was altered"):
        verify()


def audit_trigger_ids() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'aliases_auditevent'::regclass "
            "AND NOT tgisinternal"
        )
        return [row[0] for row in cursor.fetchall()]


# --- keyed MACs ---------------------------------------------------------------------------


def test_every_event_carries_the_signing_key_id_and_a_mac_that_verifies(trail):
    ring = audit.key_ring()
    assert {event.key_id for event in trail} == {"run"}
    assert all(ring.verifies("run", event.hash, event.mac) for event in trail)


def forge_approval(request, users, settings, *, ring: str) -> None:
    """A role with the database password but not the environment runs the portal's own
    writer, with a key of its own making, to append an approval from a made-up address."""
    real = settings.AUDIT_HMAC_KEYS
    settings.AUDIT_HMAC_KEYS = ring
    audit.record(
        event_type=Type.REQUEST_APPROVED,
        actor=users["admin2"],
        context=audit.AuditContext(source_ip="203.0.113.66"),
        request=request,
        reason="approved by adm2",
    )
    settings.AUDIT_HMAC_KEYS = real


def test_a_forged_append_through_the_portals_writer_without_the_key_is_named(
    trail, users, settings
):
    forge_approval(trail[0].request, users, settings, ring=other_key("run"))
    with pytest.raises(
        CommandError,
        match="event #6: its MAC does not verify with key 'run': written or rewritten",
    ):
        verify()


def test_a_forged_append_under_a_key_id_of_its_own_is_named(trail, users, settings):
    forge_approval(trail[0].request, users, settings, ring=other_key("k2026"))
    with pytest.raises(
        CommandError, match="event #6 names MAC key 'k2026', which AUDIT_HMAC_KEYS does not hold"
    ):
        verify()


def test_an_unkeyed_event_after_a_keyed_one_is_named(trail):
    tamper("UPDATE aliases_auditevent SET key_id = '', mac = '' WHERE sequence = 4")
    with pytest.raises(CommandError, match="event #4 has no MAC although #1 before it has one"):
        verify()


def test_events_written_before_keying_are_accepted_as_a_prefix_and_counted(trail):
    tamper("UPDATE aliases_auditevent SET key_id = '', mac = '' WHERE sequence <= 2")
    output = verify()
    assert output.startswith(f"OK: 5 events, head #5 {trail[-1].hash}\n")
    assert "2 events, #1 to #2, were written before the chain was keyed" in output


def test_rotated_keys_verify_old_events_and_sign_new_ones(trail, settings):
    old = settings.AUDIT_HMAC_KEYS
    settings.AUDIT_HMAC_KEYS = other_key("k2") + "," + old
    event = audit.record(event_type=Type.AUDIT_VIEWED)
    assert event.key_id == "k2"
    assert verify().startswith("OK: 6 events")
    settings.AUDIT_HMAC_KEY_ID = "run"
    assert audit.record(event_type=Type.AUDIT_VIEWED).key_id == "run"
    # Retiring the old key too early leaves its events unverifiable, and says so.
    settings.AUDIT_HMAC_KEYS, settings.AUDIT_HMAC_KEY_ID = (
        settings.AUDIT_HMAC_KEYS.split(",")[0],
        "",
    )
    with pytest.raises(CommandError, match="event #1 names MAC key 'run', which"):
        verify()


# --- rewrites only the MAC or a digest can catch -----------------------------------------


def export_of_database(tmp_path):
    path = tmp_path / "trail.jsonl"
    events = AuditEvent.objects.order_by("sequence")
    path.write_text("".join(json.dumps(audit.export_line(event)) + "\n" for event in events))
    return path


def test_a_re_hashed_rewrite_passes_the_bare_chain_but_not_the_mac(trail, tmp_path):
    rewrite(2, reason="nothing to see")
    # Hashes and links alone (what an export proves without digests) are all consistent...
    assert verify("--export", str(export_of_database(tmp_path))).startswith(
        "OK: 5 exported events verify"
    )
    # ...and only the key tells.
    with pytest.raises(CommandError, match="event #2: its MAC does not verify"):
        verify()


def test_a_rewrite_by_someone_who_stole_the_mac_key_is_caught_by_a_digest(trail, signing):
    folder, public = signing
    checkpoint(folder)
    rewrite(2, reason="nothing to see", ring=audit.key_ring())
    assert verify().startswith("OK: 5 events")
    with pytest.raises(CommandError, match=r"event #5 differs from what digest .* saw: the trail"):
        verify(*with_digests(folder, public))


# --- signed digests ---------------------------------------------------------------------


def test_a_valid_digest_series_verifies(trail, users, signing):
    folder, public = signing
    assert checkpoint(folder).endswith(f"digest of #5 {trail[-1].hash}\n")
    submit(users["supervisor"], alias_id="after_first")
    checkpoint(folder)
    checkpoint(folder)  # nothing new: still a digest, so a gap in time shows
    submit(users["supervisor"], alias_id="after_last")
    files = sorted(path.name for path in folder.iterdir())
    assert len(files) == 3 and files[0].endswith("-000000000005.json")
    output = verify(*with_digests(folder, public))
    assert output.startswith("OK: 7 events, head #7 ")
    assert "digests: 3, each signed and linked to the one before; the newest, digest " in output
    assert "leaves 1 newer events to the MACs alone" in output
    digests = [json.loads(path.read_text()) for path in sorted(folder.iterdir())]
    assert digests[0]["digest"]["previous"] is None
    assert digests[1]["digest"]["previous"]["signature"] == digests[0]["signature"]
    assert digests[1]["digest"]["sequence"] == 6


def test_audit_checkpoint_prints_to_standard_output_and_links_the_next_digest(trail, signing):
    folder, public = signing
    printed = json.loads(verify_output_of_checkpoint())
    assert printed["digest"]["sequence"] == 5
    assert printed["digest"]["head_hash"] == trail[-1].hash
    assert printed["digest"]["signing_key"].startswith("ed25519:")
    checkpoint(folder)
    following = json.loads(next(folder.iterdir()).read_text())
    assert following["digest"]["previous"]["signature"] == printed["signature"]


def verify_output_of_checkpoint() -> str:
    output = io.StringIO()
    call_command("audit_checkpoint", stdout=output)
    return output.getvalue()


def test_the_signing_key_may_come_from_the_environment_itself(trail, settings, tmp_path):
    private, public = make_signing_key(tmp_path, "env")
    settings.AUDIT_SIGNING_KEY_FILE = ""
    # As an environment variable often carries it: one line, with literal \n.
    settings.AUDIT_SIGNING_KEY = private.read_text().replace("\n", "\\n")
    output = io.StringIO()
    call_command("audit_checkpoint", "--print-public-key", stdout=output)
    assert output.getvalue() == public.read_text()
    folder = tmp_path / "digests"
    folder.mkdir()
    checkpoint(folder)
    assert verify(*with_digests(folder, public)).startswith("OK: 5 events")


def test_audit_checkpoint_refuses_a_missing_or_unfit_signing_key(trail, settings, tmp_path):
    settings.AUDIT_SIGNING_KEY_FILE, settings.AUDIT_SIGNING_KEY = "", ""
    with pytest.raises(CommandError, match="Set AUDIT_SIGNING_KEY_FILE"):
        checkpoint(tmp_path)
    settings.AUDIT_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----"
    with pytest.raises(CommandError, match="not an unencrypted PEM private key") as refused:
        checkpoint(tmp_path)
    assert "not-a-key" not in str(refused.value)
    assert not AuditDigest.objects.exists()


def test_a_truncated_tail_with_its_head_reset_is_named_by_the_digests(trail, signing):
    folder, public = signing
    checkpoint(folder)
    cut_tail(keep=3)
    # The chain and its head agree again: without digests nothing shows.
    assert verify().startswith("OK: 3 events, head #3")
    with pytest.raises(
        CommandError, match=r"the chain ends at #3 but digest .* saw #5: events were cut off"
    ):
        verify(*with_digests(folder, public))


def test_a_tail_cut_and_grown_back_is_named_by_the_digests(trail, users, signing):
    folder, public = signing
    checkpoint(folder)
    cut_tail(keep=3)
    for number in range(3):
        submit(users["supervisor"], alias_id=f"regrown_{number}")
    assert verify().startswith("OK: 6 events")
    with pytest.raises(CommandError, match=r"event #5 differs from what digest .*#5"):
        verify(*with_digests(folder, public))


def test_a_deleted_digest_is_named(trail, users, signing):
    folder, public = signing
    for number in range(3):
        checkpoint(folder)
        submit(users["supervisor"], alias_id=f"more_{number}")
    middle = sorted(folder.iterdir())[1]
    middle.unlink()
    with pytest.raises(
        CommandError, match=r"the digest of #6 signed at .*, which digest .* follows, is missing"
    ):
        verify(*with_digests(folder, public))


def test_a_deleted_newest_digest_is_named_from_the_portals_record(trail, users, signing):
    folder, public = signing
    checkpoint(folder)
    submit(users["supervisor"], alias_id="more")
    checkpoint(folder)
    max(folder.iterdir()).unlink()
    with pytest.raises(CommandError, match=r"the newest the portal signed, is not in the folder"):
        verify(*with_digests(folder, public))


def test_an_altered_or_foreign_digest_is_named(trail, signing, tmp_path):
    folder, public = signing
    checkpoint(folder)
    path = next(folder.iterdir())
    data = json.loads(path.read_text())
    data["digest"]["sequence"] = 4
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="its signature does not verify: the digest was altered"):
        verify(*with_digests(folder, public))
    _, stranger = make_signing_key(tmp_path, "stranger")
    with pytest.raises(CommandError, match="which is not among the public keys given"):
        verify(*with_digests(folder, stranger))


def test_an_export_verifies_offline_with_only_the_public_key(
    trail, signing, tmp_path, settings, django_assert_num_queries
):
    folder, public = signing
    checkpoint(folder)
    export = export_of_database(tmp_path)
    # The auditor's machine: no MAC key, no signing key, no database.
    settings.AUDIT_HMAC_KEYS = "not a key ring"
    settings.AUDIT_SIGNING_KEY_FILE = ""
    with django_assert_num_queries(0):
        output = verify("--export", str(export), *with_digests(folder, public))
    assert output.startswith("OK: 5 exported events verify\n")
    assert "MACs not checked" in output

    export.write_text("".join(export.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(CommandError, match=r"the chain ends at #3 but digest .* saw #5"):
        verify("--export", str(export), *with_digests(folder, public))


def test_a_filtered_export_cannot_be_checked_against_digests(trail, signing, tmp_path):
    folder, public = signing
    checkpoint(folder)
    export = export_of_database(tmp_path)
    lines = export.read_text().splitlines(keepends=True)
    export.write_text(lines[0] + lines[2])
    with pytest.raises(CommandError, match=r"line 2: event #2 is missing: removed from before #3"):
        verify("--export", str(export), *with_digests(folder, public))


def test_verify_audit_asks_for_the_public_key_with_digests(trail, signing):
    with pytest.raises(CommandError, match="--digests needs --public-key"):
        verify("--digests", str(signing[0]))


# --- the per-extension index -------------------------------------------------------------


def test_deleted_index_rows_are_named(trail):
    tamper(
        "DELETE FROM aliases_auditeventextension WHERE event_id = %s AND login = 'bb100'",
        [trail[2].pk],
    )
    with pytest.raises(CommandError, match=r"event #3: the per-extension index lacks \['bb100'\]"):
        verify()


def test_an_emptied_index_is_named(trail):
    tamper("DELETE FROM aliases_auditeventextension")
    with pytest.raises(CommandError, match=r"event #1: the per-extension index lacks"):
        verify()


def test_index_rows_moved_to_another_extension_are_named(trail):
    tamper(
        "UPDATE aliases_auditeventextension SET login = '2001' "
        "WHERE event_id = %s AND login = 'cc100'",
        [trail[0].pk],
    )
    with pytest.raises(CommandError, match=r"event #1: the per-extension index lacks \['cc100'\]"):
        verify()


def test_index_rows_of_an_event_that_does_not_exist_are_named(trail):
    missing_event = trail[-1].pk + 1000
    insert = "INSERT INTO aliases_auditeventextension (event_id, login) VALUES (%s, '2001')"
    if connection.vendor == "postgresql":
        # Past the foreign key too, as a superuser (or the tables' owner) could.
        tamper("SET session_replication_role = replica")
        tamper(insert, [missing_event])
        tamper("SET session_replication_role = origin")
    else:
        tamper(insert, [missing_event])
    try:
        with pytest.raises(CommandError, match="1 rows of the per-extension index point to no"):
            verify()
    finally:
        # SQLite checks the deferred foreign key when the test ends.
        tamper("DELETE FROM aliases_auditeventextension WHERE event_id = %s", [missing_event])


def test_the_index_compares_without_regard_to_case(users):
    submit(users["supervisor"], logins="CC100")
    tamper("UPDATE aliases_auditeventextension SET login = 'cc100'")
    assert verify().startswith("OK: 1 events")


def test_record_writes_one_index_row_per_extension_whatever_its_case(users):
    event = audit.record(event_type=Type.AUDIT_VIEWED, extensions=["cc100", "CC100", "bb100"])
    assert event.extensions == ["cc100", "CC100", "bb100"]
    assert sorted(event.extension_rows.values_list("login", flat=True)) == ["bb100", "cc100"]
    assert verify().startswith("OK: 1 events")


# --- the writer --------------------------------------------------------------------------


def test_a_missing_head_row_is_rebuilt_from_the_newest_event(trail):
    tamper("DELETE FROM aliases_auditchainhead")
    event = audit.record(event_type=Type.AUDIT_VIEWED)
    assert (event.sequence, event.prev_hash) == (6, trail[-1].hash)
    assert (AuditChainHead.objects.get().sequence, AuditChainHead.objects.get().hash) == (
        6,
        event.hash,
    )
    assert verify().startswith("OK: 6 events")


def test_record_stays_cheap(users, django_assert_num_queries):
    audit.record(event_type=Type.AUDIT_VIEWED)
    # Lock the head, insert the event, insert its index rows, move the head (no savepoint:
    # an event that cannot be written fails the transaction of the change it records). On
    # PostgreSQL the last three are one statement (audit/chain.py).
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 4):
        audit.record(event_type=Type.AUDIT_VIEWED, extensions=["cc100", "bb100"])


@pytest.mark.postgres_only
def test_verifying_while_events_are_written_never_calls_a_sound_trail_broken(transactional_db):
    def act(index: int) -> object:
        if index == 0:
            return [audit.verify_chain().problem for _ in range(8)]
        for number in range(25):
            with transaction.atomic():
                audit.record(event_type=Type.AUDIT_VIEWED, extensions=["cc100"], reason=f"{number}")
        return None

    outcomes = race(4, act)
    assert outcomes == [[""] * 8, None, None, None]
    assert audit.verify_chain().count == 75
