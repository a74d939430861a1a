"""Human labels for AuditEvent.outcome, the short codes the services record.

The codes stay as they are in the trail and its exports (they are hashed data); pages show
these labels. A code means different things to different events ("failed" is a request
VICIdial refused, or a log-in with a wrong password), so the event type picks the table.
"""

from .models import AliasRequest, AuditEvent, VicidialCall

EventType = AuditEvent.Type

REQUEST_OUTCOMES = dict(AliasRequest.Status.choices)
CALL_OUTCOMES = dict(VicidialCall.Result.choices)
# Everything else the services and signals write (grep `outcome=` in aliases/).
OTHER_OUTCOMES = {
    "open": "Calls stopped",  # circuit
    "closed": "Calls resumed",
    "in_step": "In step with VICIdial",  # drift check
    "drift": "Differences found",
    "adopted": "Adopted",  # adopt
    "nothing_adopted": "Nothing adopted",
    "imported": "Imported",  # extension catalogue
    "uploaded": "Requests uploaded",  # bulk upload
    "paused": "Paused",  # bulk approval batch
    "resumed": "Resumed",
    "synced": "Synced from VICIdial",
    "failed": "Failed",  # log-in
    "locked_out": "Locked out",
    "denied": "Denied",  # permission
}
CALL_EVENTS = {EventType.VICIDIAL_CALL, EventType.CALL_RECONCILED}


def _tables(event_type: str) -> tuple[dict[str, str], ...]:
    if event_type in CALL_EVENTS:
        return CALL_OUTCOMES, OTHER_OUTCOMES, REQUEST_OUTCOMES
    if event_type.startswith("request."):
        return REQUEST_OUTCOMES, OTHER_OUTCOMES, CALL_OUTCOMES
    return OTHER_OUTCOMES, REQUEST_OUTCOMES, CALL_OUTCOMES


def outcome_label(outcome: str, event_type: str = "") -> str:
    """The label of `outcome` as `event_type` means it; an unknown code, made readable."""
    for table in _tables(event_type or ""):
        if outcome in table:
            return str(table[outcome])
    return (outcome or "").replace("_", " ")
