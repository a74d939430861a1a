"""Known-answer vectors: the canonical form every event was hashed in must never drift.

Renaming a field, changing the time format, dropping sort_keys or ensure_ascii=False, or
hashing local time would make every event already written fail verification; these fix
the exact bytes, hashes and MACs.
"""

import base64
import copy
import hashlib
import hmac
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings

from aliases import audit
from aliases.models import AuditEvent

from .tampering import verify

KAT_RING = "kat:" + base64.b64encode(bytes(range(32))).decode()

FIRST = AuditEvent(
    sequence=1,
    occurred_at=datetime(2026, 1, 15, 9, 30, 0, 123456, tzinfo=UTC),
    event_type="request.created",
    actor_id=7,
    actor_username="sup",
    actor_role="Supervisor",
    source_ip="192.0.2.7",
    user_agent="Firefox/128.0",
    correlation_id="0123456789abcdef0123456789abcdef",
    request_id=42,
    call_id=None,
    extensions=["1001", "cc100"],
    outcome="pending",
    reason="",
    changes={
        "status": [None, "pending"],
        "alias_id": [None, "sales_desk"],
        "alias_name": [None, "Café desk"],
        "phone_logins": [None, ["1001", "cc100"]],
        "justification": [None, "New team needs one number."],
    },
)
FIRST_BYTES = (
    '{"actor_id":7,"actor_role":"Supervisor","actor_username":"sup","call_id":null,'
    '"changes":{"alias_id":[null,"sales_desk"],"alias_name":[null,"Café desk"],'
    '"justification":[null,"New team needs one number."],'
    '"phone_logins":[null,["1001","cc100"]],"status":[null,"pending"]},'
    '"correlation_id":"0123456789abcdef0123456789abcdef","event_type":"request.created",'
    '"extensions":["1001","cc100"],"occurred_at":"2026-01-15T09:30:00.123456Z",'
    '"outcome":"pending","reason":"","request_id":42,"sequence":1,"source_ip":"192.0.2.7",'
    '"user_agent":"Firefox/128.0"}'
).encode()
FIRST_HASH = "43360a452ffc37d301815ced7a761e12a600428a376b22fc5c22462b0d339d57"
FIRST_MAC = "71806ac67c994351e17f595941f69c4652c2352a8694e4061b05b8b822faca00"

# Written in New York, an hour before the clocks went forward: hashed in UTC all the same.
SECOND = AuditEvent(
    sequence=2,
    occurred_at=datetime(2026, 3, 8, 1, 59, 59, 500000, tzinfo=ZoneInfo("America/New_York")),
    event_type="request.rejected",
    actor_id=9,
    actor_username="adm",
    actor_role="Admin",
    source_ip="2001:db8::1",
    user_agent="",
    correlation_id="fedcba9876543210fedcba9876543210",
    request_id=42,
    call_id=None,
    extensions=["1001", "cc100"],
    outcome="rejected",
    reason="Not needed: the desk closes ✓",
    changes={"status": ["pending", "rejected"], "decided_by": [None, "adm"]},
)
SECOND_BYTES = (
    '{"actor_id":9,"actor_role":"Admin","actor_username":"adm","call_id":null,'
    '"changes":{"decided_by":[null,"adm"],"status":["pending","rejected"]},'
    '"correlation_id":"fedcba9876543210fedcba9876543210","event_type":"request.rejected",'
    '"extensions":["1001","cc100"],"occurred_at":"2026-03-08T06:59:59.500000Z",'
    '"outcome":"rejected","reason":"Not needed: the desk closes ✓","request_id":42,'
    '"sequence":2,"source_ip":"2001:db8::1","user_agent":""}' + FIRST_HASH
).encode()
SECOND_HASH = "09501e4eba6108be43e562832cbe94bf1a1a111aafd898d4d1a947ebcab3ca5a"
SECOND_MAC = "193f83e5adc537d1f951df2e4b2868db57c62aee50a7a407df1f02ca85d03259"

VECTORS = [
    (FIRST, "", FIRST_BYTES, FIRST_HASH, FIRST_MAC),
    (SECOND, FIRST_HASH, SECOND_BYTES, SECOND_HASH, SECOND_MAC),
]


@pytest.mark.parametrize(("event", "prev_hash", "expected_bytes", "expected_hash", "mac"), VECTORS)
def test_known_answer_vectors(event, prev_hash, expected_bytes, expected_hash, mac):
    content = audit.canonical_content(event)
    assert audit.canonical_bytes(content, prev_hash) == expected_bytes
    assert hashlib.sha256(expected_bytes).hexdigest() == expected_hash
    assert audit.chain_hash(content, prev_hash) == expected_hash
    assert audit.parse_key_ring(KAT_RING).mac("kat", expected_hash) == mac


def test_the_mac_is_hmac_sha256_over_key_id_and_hash():
    expected = hmac.new(bytes(range(32)), b"kat:" + FIRST_HASH.encode(), "sha256").hexdigest()
    assert expected == FIRST_MAC


def test_an_export_line_is_the_hashed_content_plus_the_links():
    event = copy.copy(FIRST)
    event.prev_hash, event.hash, event.key_id, event.mac = "", FIRST_HASH, "kat", FIRST_MAC
    line = audit.export_line(event)
    assert list(line) == [*audit.CONTENT_KEYS, "prev_hash", "hash", "key_id", "mac"]
    assert line["occurred_at"] == "2026-01-15T09:30:00.123456Z"


@pytest.mark.django_db
@override_settings(TIME_ZONE="America/New_York")
def test_the_hashed_time_is_utc_whatever_the_time_zone():
    instant = datetime(2026, 3, 8, 6, 59, 59, 500000, tzinfo=UTC)
    with time_machine.travel(instant, tick=False):
        audit.record(event_type=AuditEvent.Type.AUDIT_VIEWED)
    stored = AuditEvent.objects.get()
    content = audit.canonical_content(stored)
    assert content["occurred_at"] == "2026-03-08T06:59:59.500000Z"
    assert stored.hash == audit.chain_hash(content, "")
    assert audit.export_line(stored)["occurred_at"] == "2026-03-08T06:59:59.500000Z"
    with override_settings(TIME_ZONE="Asia/Kolkata"):
        assert verify().startswith("OK: 1 events")
