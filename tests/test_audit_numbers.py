"""Numbers in an event's changes verify after PostgreSQL's jsonb has stored them: jsonb keeps
a number's value, not its spelling, and writes 1e+16 back as 10000000000000000."""

import pytest
from django.core.management import call_command

from aliases import audit
from aliases.models import AuditEvent

NUMBERS = {
    "big float": 1e16,
    "huge float": 1.5e300,
    "negative": -2.5e17,
    "small": 1.5e-7,
    "plain": 0.1,
    "integral": 3.0,
    "int": 10**17,
}


@pytest.mark.django_db
def test_float_spellings_that_jsonb_rewrites_still_verify():
    event = audit.record(event_type=audit.EventType.AUDIT_VIEWED, changes={"numbers": NUMBERS})
    stored = AuditEvent.objects.get(pk=event.pk).changes["numbers"]
    assert stored["big float"] == 10**16 and isinstance(stored["big float"], int)
    assert stored["small"] == 1.5e-7 and stored["integral"] == 3.0
    report = audit.verify_chain()
    assert report.ok, report.problem


@pytest.mark.django_db(transaction=True)
def test_the_command_verifies_them_too(capsys):
    audit.record(event_type=audit.EventType.AUDIT_VIEWED, changes={"numbers": NUMBERS})
    call_command("verify_audit")
    assert capsys.readouterr().out.startswith("OK: ")
