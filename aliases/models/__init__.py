from .audit import (
    AppendOnlyQuerySet,
    AuditChainHead,
    AuditDigest,
    AuditEvent,
    AuditEventExtension,
)
from .calls import VicidialCall, VicidialCallSlot, VicidialCircuit
from .extensions import Extension
from .inventory import Alias, AliasLogin
from .requests import HOLDS_ALIAS_ID, AliasRequest, RequestedLogin, RequestKind, RequestStatus

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
    "Extension",
    "RequestKind",
    "RequestStatus",
    "RequestedLogin",
    "VicidialCall",
    "VicidialCallSlot",
    "VicidialCircuit",
]
