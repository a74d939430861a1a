"""The audit package's edges, pinned where mutation testing found them loose.

Each test states what an auditor or operator relies on: the exact verify_audit message that
names what happened, the boundaries of the key and digest formats, and the links a digest
series is checked by. Exports and digests are built in memory, so most of these need no
database.
"""

import base64
import copy
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import RequestFactory

from aliases import audit
from aliases.audit import digests as digest_module
from aliases.audit.context import USER_AGENT_LENGTH
from aliases.audit.digests import (
    DigestError,
    key_fingerprint,
    load_public_key,
    load_signing_key,
    parse_digest,
    read_digest_dir,
    record_digest,
    sign_digest,
    verify_series,
)
from aliases.audit.keys import audit_keys_configured
from aliases.models import (
    AuditChainHead,
    AuditDigest,
    AuditEvent,
    AuditEventExtension,
    VicidialCall,
)

from .base import submit
from .tampering import make_signing_key, tamper

Type = AuditEvent.Type
SECRET = base64.b64encode(bytes(range(32))).decode()
RING = audit.parse_key_ring("m1:" + SECRET)
T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


# --- exports built in memory -------------------------------------------------------------


def content(sequence: int, **fields) -> dict:
    base = {key: "" for key in audit.CONTENT_KEYS}
    base.update(
        sequence=sequence,
        occurred_at=audit.hashed_time(T0 + timedelta(seconds=sequence)),
        event_type="request.created",
        actor_id=None,
        request_id=None,
        call_id=None,
        extensions=[],
        changes={},
    )
    base.update(fields)
    return base


def chain(count: int, *, keyed: bool = True, start: int = 1, prev_hash: str = "") -> list[dict]:
    """`count` linked export lines from #start, MACed with RING unless keyed is False."""
    lines = []
    for sequence in range(start, start + count):
        body = content(sequence)
        own = audit.chain_hash(body, prev_hash)
        links = {"prev_hash": prev_hash, "hash": own, "key_id": "", "mac": ""}
        if keyed:
            links.update(key_id="m1", mac=RING.mac("m1", own))
        lines.append({**body, **links})
        prev_hash = own
    return lines


def texts(lines: list[dict]) -> list[str]:
    return [json.dumps(line) for line in lines]


def rehash(line: dict) -> None:
    body = {key: line[key] for key in audit.CONTENT_KEYS}
    line["hash"] = audit.chain_hash(body, line["prev_hash"])


KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = {key_fingerprint(KEY.public_key()): KEY.public_key()}


def digest_of(line: dict, previous=None, *, at: datetime = T0, key=KEY) -> audit.digests.Digest:
    return sign_digest(
        sequence=line["sequence"], head_hash=line["hash"], previous=previous, key=key, now=at
    )


def series(lines: list[dict], *sequences: int) -> list:
    out, previous = [], None
    for number, sequence in enumerate(sequences):
        previous = digest_of(lines[sequence - 1], previous, at=T0 + timedelta(minutes=number))
        out.append(previous)
    return out


# --- the export walk ---------------------------------------------------------------------


def test_an_intact_export_reports_its_count_and_head():
    lines = chain(3)
    report = audit.verify_export(texts(lines))
    assert report.ok
    assert (report.count, report.head, report.unkeyed) == (
        3,
        audit.Checkpoint(3, lines[2]["hash"]),
        0,
    )


def test_an_empty_export_is_ok_with_nothing_in_it():
    report = audit.verify_export([])
    assert report.ok and report.count == 0 and report.head == audit.Checkpoint(0, "")


def test_blank_lines_are_skipped_but_still_counted_in_line_numbers():
    lines = texts(chain(2))
    altered = json.loads(lines[1])
    altered["reason"] = "edited"
    report = audit.verify_export([lines[0], "", "   ", json.dumps(altered)])
    assert report.problem == "line 4: event #2 was altered after it was written"
    assert report.count == 1


def test_an_event_out_of_order_is_named():
    lines = texts(chain(3))
    report = audit.verify_export([lines[0], lines[1], lines[0]])
    assert report.problem == "line 3: event #1 comes after #2: out of order"


def test_a_repeated_event_is_out_of_order():
    lines = texts(chain(2))
    report = audit.verify_export([lines[0], lines[1], lines[1]])
    assert report.problem == "line 3: event #2 comes after #2: out of order"


def test_a_missing_event_is_named_when_the_export_must_be_whole():
    lines = chain(4)
    digests = series(lines, 4)
    one_gone = audit.verify_export(texts([lines[0], lines[2], lines[3]]), digests=digests)
    assert one_gone.problem == "line 2: event #2 is missing: removed from before #3"
    two_gone = audit.verify_export(texts([lines[0], lines[3]]), digests=digests)
    assert two_gone.problem == "line 2: event #2... is missing: removed from before #4"


def test_a_filtered_export_may_skip_events_and_still_checks_each_hash():
    lines = chain(5)
    report = audit.verify_export(texts([lines[0], lines[2], lines[4]]))
    assert report.ok and report.count == 3 and report.head.sequence == 5
    # Neighbours that are adjacent are still linked.
    unlinked = copy.deepcopy(lines[1])
    unlinked["prev_hash"] = "0" * 64
    rehash(unlinked)
    report = audit.verify_export(texts([lines[0], unlinked]))
    assert report.problem == (
        "line 2: event #2 does not link to #1: "
        "inserted out of place, or the event before it was rewritten"
    )


def test_a_first_event_that_links_to_something_is_named():
    lines = chain(2, prev_hash="f" * 64)
    report = audit.verify_export(texts(lines), digests=series(lines, 2))
    assert report.problem.startswith("line 1: event #1 does not link to #0")


def test_unkeyed_events_before_the_keyed_ones_are_counted():
    old = chain(2, keyed=False)
    new = chain(2, start=3, prev_hash=old[-1]["hash"])
    report = audit.verify_export(texts(old + new))
    assert report.ok and report.unkeyed == 2 and report.count == 4


def test_an_unkeyed_event_after_a_keyed_one_is_named_with_the_first_keyed():
    old = chain(1, keyed=False)
    keyed = chain(2, start=2, prev_hash=old[-1]["hash"])
    stripped = chain(1, keyed=False, start=4, prev_hash=keyed[-1]["hash"])
    report = audit.verify_export(texts(old + keyed + stripped))
    assert report.problem == (
        "line 4: event #4 has no MAC although #2 before it has one: written without the "
        "audit key (forged), or its MAC was removed"
    )


def test_an_event_with_only_a_key_id_or_only_a_mac_counts_as_keyed():
    lines = chain(2, keyed=False)
    lines[0]["key_id"] = "m1"
    report = audit.verify_export(texts(lines))
    assert report.problem.startswith("line 2: event #2 has no MAC although #1 before it")
    lines = chain(2, keyed=False)
    lines[0]["mac"] = "ab"
    assert audit.verify_export(texts(lines)).problem.startswith("line 2: event #2 has no MAC")


def test_an_export_without_key_id_and_mac_columns_is_read_as_unkeyed():
    lines = chain(2, keyed=False)
    for line in lines:
        del line["key_id"], line["mac"]
    report = audit.verify_export(texts(lines))
    assert report.ok and report.unkeyed == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "line 1: not an exported audit event (not an object)"),
        ("{not json", "line 1: not an exported audit event (Expecting property name"),
    ],
)
def test_a_line_that_is_not_an_event_is_named(text, message):
    assert audit.verify_export([text]).problem.startswith(message)


def test_a_line_with_unexpected_or_missing_fields_names_them():
    line = chain(1)[0]
    line["extra"] = 1
    del line["reason"]
    report = audit.verify_export(texts([line]))
    assert report.problem == "line 1: not an exported audit event (fields ['extra', 'reason'])"
    del line["extra"]
    line["reason"] = ""
    del line["prev_hash"]
    assert audit.verify_export(texts([line])).problem == (
        "line 1: not an exported audit event (fields ['prev_hash'])"
    )


# --- the export against digests ----------------------------------------------------------


def test_an_export_matching_its_digests_verifies_and_returns_them():
    lines = chain(4)
    digests = series(lines, 2, 4)
    report = audit.verify_export(texts(lines), digests=digests)
    assert report.ok and report.digests == tuple(digests)


def test_a_re_hashed_rewrite_is_named_by_the_digest_that_saw_the_old_event():
    lines = chain(3)
    digests = series(lines, 2)
    lines[1]["reason"] = "rewritten"
    rehash(lines[1])
    lines[2]["prev_hash"] = lines[1]["hash"]
    rehash(lines[2])
    report = audit.verify_export(texts(lines), digests=digests)
    assert report.problem == (
        f"line 2: event #2 differs from what {digests[0].describe()} saw: "
        "the trail was rewritten (and re-hashed) since"
    )


def test_a_cut_tail_is_named_by_the_furthest_digest():
    lines = chain(4)
    digests = series(lines, 2, 4)
    report = audit.verify_export(texts(lines[:3]), digests=digests)
    assert report.problem == (
        f"the chain ends at #3 but {digests[1].describe()} saw #4: events were cut off the end"
    )
    # The digest that reaches furthest is named, whatever order they come in.
    assert audit.verify_export(texts(lines[:3]), digests=digests[::-1]).problem == report.problem


def test_of_two_digests_of_the_same_event_the_later_is_named():
    lines = chain(3)
    first = digest_of(lines[2], at=T0)
    second = digest_of(lines[2], first, at=T0 + timedelta(hours=1))
    report = audit.verify_export(texts(lines[:2]), digests=[second, first])
    assert second.describe() in report.problem
    report = audit.verify_export(texts(lines[:2]), digests=[first, second])
    assert second.describe() in report.problem


def test_a_digest_of_the_last_event_is_not_a_cut():
    lines = chain(3)
    assert audit.verify_export(texts(lines), digests=series(lines, 3)).ok


# --- digests ------------------------------------------------------------------------------


def test_a_digest_names_sequence_head_time_previous_and_key():
    lines = chain(2)
    first = digest_of(lines[0], at=datetime(2026, 1, 15, 10, 0, 0, 5, tzinfo=UTC))
    second = digest_of(lines[1], first, at=datetime(2026, 1, 15, 11, 0, tzinfo=UTC))
    assert first.payload == {
        "version": 1,
        "sequence": 1,
        "head_hash": lines[0]["hash"],
        "created_at": "2026-01-15T10:00:00.000005Z",
        "previous": None,
        "signing_key": key_fingerprint(KEY.public_key()),
    }
    assert second.payload["previous"] == {
        "sha256": first.sha256,
        "signature": first.signature,
        "sequence": 1,
        "created_at": "2026-01-15T10:00:00.000005Z",
    }
    assert second.previous_sha256 == first.sha256 and first.previous_sha256 == ""
    assert first.name == first.file_name == "audit-digest-20260115T100000000005Z-000000000001.json"
    assert first.describe() == (
        "digest audit-digest-20260115T100000000005Z-000000000001.json "
        "(#1, 2026-01-15T10:00:00.000005Z)"
    )
    KEY.public_key().verify(base64.b64decode(first.signature), first.signed_bytes)


def test_the_key_fingerprint_is_the_sha256_of_the_raw_public_key():
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    import hashlib

    assert key_fingerprint(KEY.public_key()) == "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def test_the_signed_bytes_are_canonical_json():
    digest = digest_of(chain(1)[0])
    assert (
        digest.signed_bytes
        == json.dumps(
            digest.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert digest_module.canonical_json({"b": "é", "a": 1}) == '{"a":1,"b":"é"}'.encode()


def test_a_digest_file_round_trips():
    digest = digest_of(chain(1)[0])
    text = digest.as_text()
    assert text.endswith("}\n")
    assert json.loads(text) == {"digest": digest.payload, "signature": digest.signature}
    parsed = parse_digest(text, "copy.json")
    assert parsed == digest and parsed.name == "copy.json"
    assert parsed.describe().startswith("digest copy.json (#1, ")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda data: data.update(extra=1), "unexpected fields"),
        (lambda data: data["digest"].pop("signing_key"), "unexpected fields"),
        (lambda data: data["digest"].update(extra=1), "unexpected fields"),
        (lambda data: data["digest"]["previous"].pop("sha256"), "unexpected fields in previous"),
        (lambda data: data["digest"].update(version=2), "version 2"),
        (lambda data: data["digest"].update(sequence="3"), "bad field types"),
        (lambda data: data.update(signature=7), "bad field types"),
        (lambda data: data.pop("signature"), "'signature'"),
    ],
)
def test_a_file_that_is_not_a_digest_is_named(change, reason):
    lines = chain(2)
    data = json.loads(series(lines, 1, 2)[1].as_text())
    change(data)
    with pytest.raises(DigestError) as refused:
        parse_digest(json.dumps(data), "bad.json")
    assert str(refused.value) == f"bad.json: not an audit digest ({reason})"


def test_a_digest_file_that_is_not_json_is_named():
    with pytest.raises(DigestError, match=r"^x\.json: not an audit digest \("):
        parse_digest("nope", "x.json")


def test_the_digest_folder_is_read_in_name_order_and_only_digest_files(tmp_path):
    lines = chain(3)
    digests = series(lines, 1, 2, 3)
    for digest in digests[::-1]:
        (tmp_path / digest.file_name).write_text(digest.as_text())
    (tmp_path / "notes.json").write_text("not a digest")
    read = read_digest_dir(tmp_path)
    assert read == digests and [d.name for d in read] == [d.file_name for d in digests]


def test_an_unreadable_digest_folder_or_file_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DigestError, match="nowhere is not a folder of digests"):
        read_digest_dir(missing)
    (tmp_path / "audit-digest-1.json").write_bytes(b"\xff\xfe")
    with pytest.raises(DigestError, match=r"^Cannot read .*audit-digest-1\.json: "):
        read_digest_dir(tmp_path)


def test_a_whole_series_comes_back_in_order():
    lines = chain(3)
    digests = series(lines, 1, 2, 3)
    report = verify_series([digests[2], digests[0], digests[1]], PUBLIC)
    assert report.problem == "" and report.digests == digests
    assert report.follows_earlier is False


def test_a_series_whose_first_digest_follows_an_archived_one_is_reported_not_refused():
    lines = chain(3)
    digests = series(lines, 1, 2, 3)
    report = verify_series(digests[1:], PUBLIC)
    assert report.problem == "" and report.follows_earlier is True
    assert verify_series([], PUBLIC).follows_earlier is False


def test_a_digest_signed_by_an_unknown_key_is_named():
    lines = chain(1)
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    digest = digest_of(lines[0], key=other)
    report = verify_series([digest], PUBLIC)
    assert report.problem == (
        f"{digest.describe()} was signed by key {key_fingerprint(other.public_key())}, "
        "which is not among the public keys given"
    )


@pytest.mark.parametrize("signature", ["AAAA", "not base64!", ""])
def test_a_digest_whose_signature_does_not_verify_is_named(signature):
    digest = digest_of(chain(1)[0])
    forged = audit.digests.Digest(digest.payload, signature, name="f.json")
    assert verify_series([forged], PUBLIC).problem == (
        f"{forged.describe()}: its signature does not verify: the digest was altered"
    )


def test_a_signature_with_a_stray_character_does_not_verify():
    # The link of the next digest quotes the signature as text, so it must be exact.
    digest = digest_of(chain(1)[0])
    padded = audit.digests.Digest(digest.payload, digest.signature[:8] + "!" + digest.signature[8:])
    assert verify_series([digest], PUBLIC).problem == ""
    assert "its signature does not verify" in verify_series([padded], PUBLIC).problem


def test_an_altered_payload_does_not_verify():
    digest = digest_of(chain(1)[0])
    payload = {**digest.payload, "sequence": 2}
    altered = audit.digests.Digest(payload, digest.signature)
    assert "its signature does not verify" in verify_series([altered], PUBLIC).problem


def test_a_forked_series_is_named():
    lines = chain(3)
    first = digest_of(lines[0])
    left = digest_of(lines[1], first, at=T0 + timedelta(minutes=1))
    right = digest_of(lines[2], first, at=T0 + timedelta(minutes=2))
    report = verify_series([first, left, right], PUBLIC)
    assert report.problem == (
        f"{left.describe()} and {right.describe()} follow the same digest: the series forked"
    )


def test_a_deleted_middle_digest_is_named_from_the_link_of_the_next():
    lines = chain(3)
    digests = series(lines, 1, 2, 3)
    report = verify_series([digests[0], digests[2]], PUBLIC)
    assert report.problem == (
        f"the digest of #2 signed at {digests[1].created_at}, which "
        f"{digests[2].describe()} follows, is missing: it was deleted"
    )


def test_a_second_series_start_is_named():
    lines = chain(3)
    _archived, kept = series(lines, 1, 2)
    restart = digest_of(lines[2], at=T0 + timedelta(minutes=5))
    report = verify_series([restart, kept], PUBLIC)
    assert report.problem == (
        f"{restart.describe()} starts a new series: its link to the digests before it was removed"
    )


def test_of_two_starts_signed_at_once_the_higher_sequence_is_the_new_series():
    lines = chain(3)
    _archived = digest_of(lines[0], at=T0 - timedelta(minutes=1))
    kept = digest_of(lines[1], _archived, at=T0)
    restart = digest_of(lines[2], at=T0)
    for given in ([restart, kept], [kept, restart]):
        assert verify_series(given, PUBLIC).problem.startswith(
            f"{restart.describe()} starts a new series"
        )


def test_a_link_that_describes_its_previous_wrongly_is_named():
    lines = chain(2)
    first = digest_of(lines[0])
    second = digest_of(lines[1], first, at=T0 + timedelta(minutes=1))
    for field, value in [("sequence", 9), ("created_at", "2020-01-01T00:00:00.000000Z")]:
        payload = copy.deepcopy(second.payload)
        payload["previous"][field] = value
        lying = audit.digests.Digest(
            payload, base64.b64encode(KEY.sign(digest_module.canonical_json(payload))).decode()
        )
        report = verify_series([first, lying], PUBLIC)
        assert report.problem == f"{lying.describe()} describes {first.describe()} wrongly"
        assert report.digests == [first]


def test_a_later_digest_that_saw_fewer_events_is_named():
    lines = chain(3)
    first = digest_of(lines[2], at=T0)
    second = digest_of(lines[1], first, at=T0 + timedelta(minutes=1))
    report = verify_series([first, second], PUBLIC)
    assert report.problem == (
        f"{second.describe()} saw fewer events than {first.describe()}: "
        "events were cut off the end of the chain between them"
    )


def test_a_digest_of_the_same_sequence_again_is_not_a_cut():
    lines = chain(1)
    first = digest_of(lines[0], at=T0)
    again = digest_of(lines[0], first, at=T0 + timedelta(minutes=1))
    assert verify_series([first, again], PUBLIC).problem == ""


# --- signing keys ------------------------------------------------------------------------


def pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_the_signing_key_file_wins_over_the_variable(settings, tmp_path):
    private, _ = make_signing_key(tmp_path)
    settings.AUDIT_SIGNING_KEY_FILE = str(private)
    settings.AUDIT_SIGNING_KEY = pem(KEY).decode()
    loaded = load_signing_key()
    assert pem(loaded) == private.read_bytes()


def test_the_signing_key_variable_may_carry_literal_newlines(settings):
    settings.AUDIT_SIGNING_KEY_FILE = ""
    settings.AUDIT_SIGNING_KEY = pem(KEY).decode().replace("\n", "\\n")
    assert pem(load_signing_key()) == pem(KEY)


@pytest.mark.parametrize(
    ("file", "value", "message"),
    [
        ("missing", "", r"^AUDIT_SIGNING_KEY_FILE cannot be read: No such file or directory$"),
        (
            "",
            "",
            r"^Set AUDIT_SIGNING_KEY_FILE \(or AUDIT_SIGNING_KEY\) to the Ed25519 private key "
            r"that signs audit digests\.$",
        ),
        ("", "garbage", r"^The audit signing key is not an unencrypted PEM private key\.$"),
    ],
)
def test_an_unusable_signing_key_is_named(settings, tmp_path, file, value, message):
    settings.AUDIT_SIGNING_KEY_FILE = str(tmp_path / file) if file else ""
    settings.AUDIT_SIGNING_KEY = value
    with pytest.raises(ImproperlyConfigured, match=message):
        load_signing_key()


def test_a_signing_key_that_is_not_ed25519_is_named(settings):
    from cryptography.hazmat.primitives.asymmetric import ec

    settings.AUDIT_SIGNING_KEY_FILE = ""
    settings.AUDIT_SIGNING_KEY = pem(ec.generate_private_key(ec.SECP256R1())).decode()
    with pytest.raises(ImproperlyConfigured, match=r"^The audit signing key must be an Ed25519"):
        load_signing_key()


def test_an_unusable_public_key_is_named(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(DigestError, match=r"^Cannot read public key .*nope\.pem: No such file"):
        load_public_key(tmp_path / "nope.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("garbage")
    with pytest.raises(DigestError, match=r"garbage\.pem is not a PEM public key\.$"):
        load_public_key(garbage)
    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(DigestError, match=r"ec\.pem is not an Ed25519 public key\.$"):
        load_public_key(other)
    _, public = make_signing_key(tmp_path)
    assert isinstance(load_public_key(public), type(KEY.public_key()))


def test_the_public_key_pem_is_the_subject_public_key_info():
    text = digest_module.public_key_pem(KEY)
    assert text.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert serialization.load_pem_public_key(text.encode()) == KEY.public_key()


# --- MAC key rings -----------------------------------------------------------------------


def ring_text(key_id: str, size: int = 32) -> str:
    return f"{key_id}:" + base64.b64encode(bytes(size)).decode()


@pytest.mark.parametrize("key_id", ["a", "A.z_0-9", "k" * 32])
def test_key_ids_of_1_to_32_letters_digits_dots_underscores_and_dashes(key_id):
    assert audit.parse_key_ring(ring_text(key_id)).signing_id == key_id


@pytest.mark.parametrize("key_id", ["", "k" * 33, "k/1", "k 1"])
def test_other_key_ids_are_refused(key_id):
    with pytest.raises(ImproperlyConfigured) as refused:
        audit.parse_key_ring(ring_text(key_id))
    assert str(refused.value) == (
        "AUDIT_HMAC_KEYS holds comma-separated id:base64secret entries; "
        "an id is 1 to 32 letters, digits, '.', '_' or '-'."
    )


def test_a_secret_of_exactly_32_bytes_is_enough_and_31_is_not():
    assert "k" in audit.parse_key_ring(ring_text("k", 32))
    with pytest.raises(ImproperlyConfigured) as refused:
        audit.parse_key_ring(ring_text("k", 31))
    assert str(refused.value) == "AUDIT_HMAC_KEYS: key 'k' is shorter than 32 bytes."


def test_the_ring_messages_are_exact():
    with pytest.raises(ImproperlyConfigured) as refused:
        audit.parse_key_ring(" , ,")
    assert str(refused.value) == "AUDIT_HMAC_KEYS holds no key."
    with pytest.raises(ImproperlyConfigured) as refused:
        audit.parse_key_ring("k:@@@@")
    assert str(refused.value) == "AUDIT_HMAC_KEYS: key 'k' is not base64."
    # The id ends at the first colon: what follows is the secret, colons included.
    with pytest.raises(ImproperlyConfigured) as refused:
        audit.parse_key_ring("k:" + ring_text("x"))
    assert str(refused.value) == "AUDIT_HMAC_KEYS: key 'k' is not base64."
    with pytest.raises(ImproperlyConfigured) as refused:
        audit.parse_key_ring(ring_text("k") + "," + ring_text("k"))
    assert str(refused.value) == "AUDIT_HMAC_KEYS names key 'k' twice."
    with pytest.raises(ImproperlyConfigured) as refused:
        audit.parse_key_ring(ring_text("k"), "j")
    assert str(refused.value) == "AUDIT_HMAC_KEY_ID is 'j', which AUDIT_HMAC_KEYS does not hold."


def test_spaces_and_empty_entries_around_keys_are_ignored():
    ring = audit.parse_key_ring(f" ,{ring_text('a')} , b: {base64.b64encode(bytes(32)).decode()} ,")
    assert "a" in ring and "b" in ring and "c" not in ring
    assert ring.signing_id == "a"
    assert repr(ring) == "<KeyRing signing='a' ids=['a', 'b']>"


def test_repr_lists_ids_sorted():
    ring = audit.parse_key_ring(f"{ring_text('z')},{ring_text('a')}")
    assert repr(ring) == "<KeyRing signing='z' ids=['a', 'z']>"


def test_base64_with_or_without_padding_and_in_either_alphabet_decodes_the_same():
    raw = bytes([0xFB, 0xFF] * 17)  # 34 bytes: encodes with '+', '/' and padding
    standard = base64.b64encode(raw).decode()
    assert "+" in standard and "/" in standard and standard.endswith("=")
    forms = [standard, standard.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    macs = {audit.parse_key_ring(f"k:{form}").mac("k", "h") for form in forms}
    assert macs == {audit.parse_key_ring(f"k:{standard}").mac("k", "h")}
    with pytest.raises(ImproperlyConfigured, match="not base64"):
        audit.parse_key_ring(f"k:{standard}!")


def test_the_mac_verifies_only_for_its_key_id_and_hash():
    ring = audit.parse_key_ring(f"{ring_text('a')},b:{SECRET}")
    mac = ring.mac("b", "h1")
    assert ring.verifies("b", "h1", mac)
    assert not ring.verifies("b", "h2", mac)
    assert not ring.verifies("b", "h1", ring.mac("a", "h1"))
    assert ring.mac("a", "h1") != ring.mac("b", "h1")


def test_the_development_key_is_accepted_while_debug_is_on(settings):
    settings.AUDIT_HMAC_KEYS = ring_text("dev")
    settings.DEBUG = True
    assert audit_keys_configured(None) == []
    settings.DEBUG = False
    [error] = audit_keys_configured(None)
    assert error.msg == ("AUDIT_HMAC_KEYS signs with the development key 'dev' while DEBUG is off.")
    assert error.hint == "Generate a key as docs/DEPLOY.md (Audit keys) says."
    settings.AUDIT_HMAC_KEYS = ring_text("k", 5)
    [error] = audit_keys_configured(None)
    assert error.msg == "AUDIT_HMAC_KEYS: key 'k' is shorter than 32 bytes."


def test_the_ring_follows_the_settings(settings):
    settings.AUDIT_HMAC_KEYS = f"{ring_text('a')},{ring_text('b')}"
    settings.AUDIT_HMAC_KEY_ID = "b"
    assert audit.key_ring().signing_id == "b"
    settings.AUDIT_HMAC_KEY_ID = ""
    assert audit.key_ring().signing_id == "a"


# --- where an action came from -----------------------------------------------------------


def test_the_client_address_is_the_peer_unless_the_proxy_is_trusted(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9 "
    )
    settings.AUDIT_TRUST_X_FORWARDED_FOR = False
    assert audit.client_ip(request) == "10.0.0.1"
    settings.AUDIT_TRUST_X_FORWARDED_FOR = True
    assert audit.client_ip(request) == "203.0.113.9"
    # Some proxies join the list without spaces.
    request.META["HTTP_X_FORWARDED_FOR"] = "6.6.6.6,203.0.113.10"
    assert audit.client_ip(request) == "203.0.113.10"
    request.META["HTTP_X_FORWARDED_FOR"] = ""
    assert audit.client_ip(request) == "10.0.0.1"
    request.META["HTTP_X_FORWARDED_FOR"] = "1" * 60
    assert audit.client_ip(request) == "1" * 45
    request.META.pop("HTTP_X_FORWARDED_FOR")
    request.META["REMOTE_ADDR"] = "2" * 60
    assert audit.client_ip(request) == "2" * 45
    del request.META["REMOTE_ADDR"]
    assert audit.client_ip(request) == ""


def test_the_context_of_a_request_is_made_once_and_cuts_the_user_agent(settings):
    settings.AUDIT_TRUST_X_FORWARDED_FOR = False
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_USER_AGENT="u" * 999)
    context = audit.AuditContext.from_request(request)
    assert context.source_ip == "10.0.0.2"
    assert context.user_agent == "u" * USER_AGENT_LENGTH
    assert audit.AuditContext.from_request(request) is context
    bare = RequestFactory().get("/")
    bare.META.pop("HTTP_USER_AGENT", None)
    assert audit.AuditContext.from_request(bare).user_agent == ""


def test_each_context_has_its_own_correlation_id_and_system_contexts_name_the_job():
    first, second = audit.AuditContext(), audit.AuditContext()
    assert first.correlation_id != second.correlation_id
    assert len(first.correlation_id) == 32 and int(first.correlation_id, 16) >= 0
    job = audit.AuditContext.system("x" * 999)
    assert job.user_agent == "x" * USER_AGENT_LENGTH and job.source_ip == ""


# --- the canonical form ------------------------------------------------------------------


def test_the_hashed_time_is_utc_with_microseconds_from_any_offset():
    india = timezone(timedelta(hours=5, minutes=30))
    assert audit.hashed_time(datetime(2026, 1, 15, 15, 0, tzinfo=india)) == (
        "2026-01-15T09:30:00.000000Z"
    )


@pytest.mark.django_db
def test_record_stores_what_the_database_gives_back(users):
    event = audit.record(
        event_type=Type.REQUEST_CREATED,
        actor=AnonymousUser(),
        actor_username="ghost\x00name",
        context=audit.AuditContext(source_ip="192.0.2.1", user_agent="ua\x00"),
        extensions=["B100", "b100", "c200", "B100"],
        reason="why\x00",
        changes={"when": [None, T0], "list": ["a\x00"], "k\x00": {"n\x00": ["x\x00"]}},
    )
    assert event.actor is None and event.actor_role == ""
    assert event.actor_username == "ghost\ufffdname"
    assert event.user_agent == "ua\ufffd" and event.reason == "why\ufffd"
    assert event.extensions == ["B100", "b100", "c200"]
    assert event.changes == {
        "when": [None, "2026-01-15T09:30:00Z"],
        "list": ["a\ufffd"],
        "k\ufffd": {"n\ufffd": ["x\ufffd"]},
    }
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.hash == audit.chain_hash(audit.canonical_content(stored), "")
    assert sorted(AuditEventExtension.objects.values_list("login", flat=True)) == [
        "B100",
        "c200",
    ]


@pytest.mark.django_db
def test_record_names_the_signed_in_actor_and_links_to_the_head(users):
    first = audit.record(event_type=Type.AUDIT_VIEWED, actor=users["auditor"])
    second = audit.record(
        event_type=Type.AUDIT_VIEWED, actor=users["supervisor"], actor_username="ignored"
    )
    assert second.sequence == first.sequence + 1 and second.prev_hash == first.hash
    assert second.actor == users["supervisor"]
    assert second.actor_username == users["supervisor"].get_username()
    assert second.actor_role != ""
    assert second.key_id == audit.key_ring().signing_id
    assert audit.key_ring().verifies(second.key_id, second.hash, second.mac)
    head = AuditChainHead.objects.get(pk=1)
    assert (head.sequence, head.hash) == (second.sequence, second.hash)


@pytest.mark.django_db
def test_an_event_names_its_request_call_and_correlation_id(users):
    request = submit(users["supervisor"], alias_id="mut_desk")
    call = VicidialCall.objects.create(
        request=request, function="add_phone_alias", method="GET", url="http://vicidial.test/"
    )
    context = audit.AuditContext(source_ip="192.0.2.9", correlation_id="c" * 32)
    event = audit.record(
        event_type=Type.AUDIT_VIEWED, context=context, request=request, call=call, outcome="x"
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.request_id, stored.call_id) == (request.pk, call.pk)
    assert (stored.correlation_id, stored.source_ip, stored.outcome) == ("c" * 32, "192.0.2.9", "x")
    assert audit.canonical_content(stored)["call_id"] == call.pk
    assert audit.verify_chain().ok


@pytest.mark.django_db
def test_the_writer_folds_the_case_of_logins_as_its_verifier_does():
    # "ß" upper-cases to "SS" but lower-cases to itself: the index must keep both logins,
    # as verify_audit compares the lower-cased forms.
    audit.record(event_type=Type.AUDIT_VIEWED, extensions=["ß", "ss", "SS"])
    assert sorted(AuditEventExtension.objects.values_list("login", flat=True)) == ["ss", "ß"]
    assert audit.verify_chain().ok


@pytest.mark.django_db
def test_a_bare_event_has_empty_outcome_reason_and_changes():
    event = audit.record(event_type=Type.AUDIT_VIEWED)
    assert (event.outcome, event.reason, event.changes, event.extensions) == ("", "", {}, [])
    assert (event.actor, event.actor_username, event.source_ip, event.request) == (
        None,
        "",
        "",
        None,
    )
    assert not AuditEventExtension.objects.exists()


@pytest.mark.django_db
def test_a_missing_head_row_with_no_events_starts_the_chain_at_one():
    tamper("DELETE FROM aliases_auditchainhead")
    event = audit.record(event_type=Type.AUDIT_VIEWED)
    assert (event.sequence, event.prev_hash) == (1, "")
    assert AuditChainHead.objects.get(pk=1).sequence == 1


# --- verify_chain in the database ---------------------------------------------------------


@pytest.fixture
def events(db):
    for _ in range(3):
        audit.record(event_type=Type.AUDIT_VIEWED, extensions=["Cc100"])
    return list(AuditEvent.objects.order_by("sequence"))


def test_the_database_chain_verifies_with_its_count_and_head(events):
    report = audit.verify_chain()
    assert report.ok and report.count == 3
    assert report.head == audit.Checkpoint(3, events[-1].hash)


def test_a_head_ahead_of_the_chain_is_named(events):
    tamper("UPDATE aliases_auditchainhead SET sequence = 9")
    assert audit.verify_chain().problem == (
        "the chain ends at #3 but its head says #9: the newest events were removed"
    )


def test_a_head_behind_the_chain_or_with_another_hash_is_named(events):
    tamper("UPDATE aliases_auditchainhead SET sequence = 2")
    assert audit.verify_chain().problem == (
        "the chain head says #2 but the chain ends at #3: "
        "the head was reset, or events were added behind the writer's back"
    )
    tamper("UPDATE aliases_auditchainhead SET sequence = 3, hash = 'x'")
    assert audit.verify_chain().problem.startswith("the chain head says #3 but the chain ends")


def test_a_missing_head_row_is_no_problem(events):
    tamper("DELETE FROM aliases_auditchainhead")
    assert audit.verify_chain().ok


def test_an_unknown_mac_key_id_is_named(events):
    tamper("UPDATE aliases_auditevent SET key_id = 'gone' WHERE sequence = 2")
    assert audit.verify_chain().problem == (
        "event #2 names MAC key 'gone', which AUDIT_HMAC_KEYS does not hold: forged, or a "
        "retired key was dropped from the ring too early"
    )


def test_a_mac_that_does_not_verify_is_named(events):
    tamper("UPDATE aliases_auditevent SET mac = %s WHERE sequence = 3", ["0" * 64])
    key_id = events[2].key_id
    assert audit.verify_chain().problem == (
        f"event #3: its MAC does not verify with key {key_id!r}: written or "
        "rewritten (and re-hashed) by someone without the audit key"
    )


def test_index_rows_lacking_or_added_are_named_exactly(events):
    tamper("DELETE FROM aliases_auditeventextension WHERE event_id = %s", [events[1].pk])
    assert audit.verify_chain().problem == (
        "event #2: the per-extension index lacks ['cc100']: its rows were deleted"
    )
    tamper(
        "INSERT INTO aliases_auditeventextension (event_id, login) VALUES (%s, 'cc100'), "
        "(%s, 'dd200')",
        [events[1].pk, events[1].pk],
    )
    assert audit.verify_chain().problem == (
        "event #2: the per-extension index adds ['dd200'], which the event does not name: "
        "rows were inserted"
    )


def test_the_index_check_covers_the_last_event_too(events):
    tamper("DELETE FROM aliases_auditeventextension WHERE event_id = %s", [events[2].pk])
    assert audit.verify_chain().problem.startswith("event #3: the per-extension index lacks")


def test_orphan_index_rows_are_counted(events):
    missing = events[-1].pk + 100
    insert = "INSERT INTO aliases_auditeventextension (event_id, login) VALUES (%s, 'x'), (%s, 'y')"
    if connection.vendor == "postgresql":
        tamper("SET session_replication_role = replica")
    tamper(insert, [missing, missing])
    if connection.vendor == "postgresql":
        tamper("SET session_replication_role = origin")
    try:
        assert audit.verify_chain().problem == (
            "2 rows of the per-extension index point to no event: inserted by hand"
        )
    finally:
        # SQLite checks the deferred foreign key when the test ends.
        tamper("DELETE FROM aliases_auditeventextension WHERE event_id = %s", [missing])


def recorded(digest) -> None:
    record_digest(digest)


def test_a_newer_digest_the_portal_signed_but_not_given_is_named(events):
    line = {"sequence": 3, "hash": events[2].hash}
    given = digest_of(line, at=T0)
    recorded(given)
    assert audit.verify_chain(digests=[given]).ok
    newer = digest_of(line, given, at=T0 + timedelta(hours=1))
    recorded(newer)
    assert audit.verify_chain(digests=[given]).problem == (
        f"digest {newer.file_name} (#3, {newer.created_at}), the newest the portal signed, "
        "is not in the folder: deleted, or not shipped there yet"
    )
    assert audit.verify_chain(digests=[given, newer]).ok
    # Without digests, nothing is compared against the portal's record.
    assert audit.verify_chain().ok


def test_a_recorded_digest_older_than_those_given_is_not_a_problem(events):
    line = {"sequence": 3, "hash": events[2].hash}
    recorded(digest_of(line, at=T0))
    given = digest_of(line, at=T0 + timedelta(hours=1))
    assert audit.verify_chain(digests=[given]).ok
    # The folder's newest is as new as the portal's record: nothing newer went missing.
    same_time = digest_of({"sequence": 2, "hash": events[1].hash}, at=T0)
    assert audit.verify_chain(digests=[same_time]).ok


def test_digests_from_a_portal_that_recorded_none_verify(events):
    # A database restored without its digest records: the folder's digests still count.
    assert not AuditDigest.objects.exists()
    assert audit.verify_chain(digests=[digest_of({"sequence": 3, "hash": events[2].hash})]).ok


def test_a_digest_beyond_the_database_chain_is_named(events):
    digest = digest_of({"sequence": 5, "hash": "h"}, at=T0)
    assert audit.verify_chain(digests=[digest]).problem == (
        f"the chain ends at #3 but {digest.describe()} saw #5: events were cut off the end"
    )


def test_digest_create_links_to_the_last_recorded_digest(events):
    first = digest_module.digest_create(key=KEY)
    second = digest_module.digest_create(key=KEY)
    assert (first.sequence, first.head_hash, first.previous) == (3, events[2].hash, None)
    assert second.previous == {
        "sha256": first.sha256,
        "signature": first.signature,
        "sequence": 3,
        "created_at": first.created_at,
    }
    row = AuditDigest.objects.get(sha256=second.sha256)
    assert (row.sequence, row.head_hash, row.file_name) == (3, events[2].hash, second.file_name)
    assert (row.previous_sha256, row.signature, row.signing_key) == (
        first.sha256,
        second.signature,
        second.payload["signing_key"],
    )
    assert audit.digests.hashed_time(row.created_at) == second.created_at
    assert verify_series([first, second], PUBLIC).problem == ""


@pytest.mark.django_db
def test_two_checkpoints_racing_for_the_same_previous_digest_are_told_to_run_again():
    # A digest already names the newest one as its previous: what a concurrent
    # audit_checkpoint that committed first leaves behind.
    AuditDigest.objects.create(
        pk=1,
        sequence=0,
        head_hash="",
        created_at=T0,
        sha256="s1",
        previous_sha256="s2",
        signature="x",
        signing_key="k",
        file_name="one.json",
    )
    AuditDigest.objects.create(
        pk=2,
        sequence=0,
        head_hash="",
        created_at=T0,
        sha256="s2",
        previous_sha256="",
        signature="y",
        signing_key="k",
        file_name="two.json",
    )
    with pytest.raises(DigestError) as refused:
        digest_module.digest_create(key=KEY)
    assert str(refused.value) == (
        "Another audit_checkpoint signed a digest at the same moment; run it again."
    )
    assert AuditDigest.objects.count() == 2


@pytest.mark.django_db
def test_a_digest_of_an_empty_chain_names_sequence_zero():
    digest = digest_module.digest_create(key=KEY)
    assert (digest.sequence, digest.head_hash) == (0, "")
