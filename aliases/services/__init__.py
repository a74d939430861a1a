"""Every write and status change of the portal goes through these functions.

Portal views, Django admin actions and management commands all call them, so the
rules (roles, four-eyes, one live request per alias ID, exactly-once approval) hold
wherever an action starts.
"""

from .adopt import aliases_adopt
from .bulk_approval import (
    batch_approve_upload,
    batch_pause,
    batch_resume,
    batch_withdraw,
    requests_approve_many,
)
from .circuit import vicidial_circuit, vicidial_circuits_open
from .db_verification import (
    alias_request_verify_from_database,
    alias_requests_verify_from_database,
)
from .drift import drift_check, drift_compare
from .queue import vicidial_circuit_reset
from .requests import alias_request_approve, alias_request_cancel, alias_request_reject
from .submissions import (
    alias_change_submit,
    alias_disable_submit,
    alias_enable_submit,
    alias_request_submit,
)
from .verification import (
    alias_request_retry,
    alias_request_settle,
    alias_requests_reconcile_inflight,
)

__all__ = [
    "alias_change_submit",
    "alias_disable_submit",
    "alias_enable_submit",
    "alias_request_approve",
    "alias_request_cancel",
    "alias_request_reject",
    "alias_request_retry",
    "alias_request_settle",
    "alias_request_submit",
    "alias_request_verify_from_database",
    "alias_requests_reconcile_inflight",
    "alias_requests_verify_from_database",
    "aliases_adopt",
    "batch_approve_upload",
    "batch_pause",
    "batch_resume",
    "batch_withdraw",
    "drift_check",
    "drift_compare",
    "requests_approve_many",
    "vicidial_circuit",
    "vicidial_circuit_reset",
    "vicidial_circuits_open",
]
