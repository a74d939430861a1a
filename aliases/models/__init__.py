from .audit import (
    AppendOnlyQuerySet,
    AuditChainHead,
    AuditDigest,
    AuditEvent,
    AuditEventExtension,
)
from .calls import VicidialCall, VicidialCallSlot, VicidialCircuit
from .extensions import Extension
from .requests import HOLDS_ALIAS_ID, AliasRequest, RequestedLogin, RequestStatus

__all__ = [
    "HOLDS_ALIAS_ID",
    "AliasRequest",
    "AppendOnlyQuerySet",
    "AuditChainHead",
    "AuditDigest",
    "AuditEvent",
    "AuditEventExtension",
    "Extension",
    "RequestStatus",
    "RequestedLogin",
    "VicidialCall",
    "VicidialCallSlot",
    "VicidialCircuit",
]
