"""The audit trail: an append-only, hash-chained, keyed log of every step, and its checks.

chain.py writes events and holds the canonical form, keys.py the MAC keys from the
environment, digests.py the signed digests kept outside the database, verify.py the checks.
"""

from .chain import (
    CONTENT_KEYS,
    LINK_KEYS,
    EventType,
    audit_event,
    batched,
    canonical_bytes,
    canonical_content,
    chain_hash,
    export_line,
    hashed_time,
    record,
    record_many,
)
from .context import AuditContext, client_ip
from .keys import KeyRing, key_ring, parse_key_ring
from .verify import ChainReport, Checkpoint, verify_chain, verify_export

__all__ = [
    "CONTENT_KEYS",
    "LINK_KEYS",
    "AuditContext",
    "ChainReport",
    "Checkpoint",
    "EventType",
    "KeyRing",
    "audit_event",
    "batched",
    "canonical_bytes",
    "canonical_content",
    "chain_hash",
    "client_ip",
    "export_line",
    "hashed_time",
    "key_ring",
    "parse_key_ring",
    "record",
    "record_many",
    "verify_chain",
    "verify_export",
]
