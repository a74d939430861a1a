from .audit import AppendOnlyQuerySet, AuditChainHead, AuditEvent, AuditEventExtension
from .calls import VicidialCall, VicidialCircuit
from .extensions import Extension
from .requests import HOLDS_ALIAS_ID, AliasRequest, RequestedLogin, RequestStatus

__all__ = [
    "HOLDS_ALIAS_ID",
    "AliasRequest",
    "AppendOnlyQuerySet",
    "AuditChainHead",
    "AuditEvent",
    "AuditEventExtension",
    "Extension",
    "RequestStatus",
    "RequestedLogin",
    "VicidialCall",
    "VicidialCircuit",
]
