"""Every write and status change of the portal goes through these functions.

Portal views, Django admin actions and management commands all call them, so the
rules (roles, four-eyes, one live request per alias ID, exactly-once approval) hold
wherever an action starts.
"""

from .requests import (
    alias_request_approve,
    alias_request_cancel,
    alias_request_reject,
    alias_request_submit,
)

__all__ = [
    "alias_request_approve",
    "alias_request_cancel",
    "alias_request_reject",
    "alias_request_submit",
]
