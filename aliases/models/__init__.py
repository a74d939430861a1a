from .audit import (
    AppendOnlyQuerySet,
    AuditChainHead,
    AuditDigest,
    AuditEvent,
    AuditEventExtension,
)
from .batches import BatchKind, RequestBatch
from .calls import VicidialCall, VicidialCallSlot, VicidialCircuit
from .extensions import Extension
from .inventory import Alias, AliasLogin
from .requests import HOLDS_ALIAS_ID, AliasRequest, RequestedLogin, RequestKind, RequestStatus
from .worker import PendingDigest, VicidialCallPace, WorkerHeartbeat

__all__ = [
    "HOLDS_ALIAS_ID",
    "Alias",
    "AliasLogin",
    "AliasRequest",
    "AppendOnlyQuerySet",
    "AuditChainHead",
    "AuditDigest",
    "AuditEvent",
    "AuditEventExtension",
    "BatchKind",
    "Extension",
    "PendingDigest",
    "RequestBatch",
    "RequestKind",
    "RequestStatus",
    "RequestedLogin",
    "VicidialCall",
    "VicidialCallPace",
    "VicidialCallSlot",
    "VicidialCircuit",
    "WorkerHeartbeat",
]
