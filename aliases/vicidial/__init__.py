"""Everything about VICIdial's non_agent_api.php: the HTTP client (the one seam that talks to
VICIdial), the pure protocol (parsing and classifying answers) and password redaction."""

from .client import CallReply, VicidialClient, VicidialConfig
from .protocol import CallResult, Keyword, ParsedResponse, TransportError, classify, parse_response
from .redaction import hide_passwords_from_urllib3_logs, password_weakness, redact

__all__ = [
    "CallReply",
    "CallResult",
    "Keyword",
    "ParsedResponse",
    "TransportError",
    "VicidialClient",
    "VicidialConfig",
    "classify",
    "hide_passwords_from_urllib3_logs",
    "parse_response",
    "password_weakness",
    "redact",
]
