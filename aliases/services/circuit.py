"""The circuit breaker that stops VICIdial calls once VICIdial refuses the portal's login.

Lock order, everywhere: the request row, then the circuit row, then call and slot rows,
and the audit chain head last (the first record() takes it, so every other lock of the
transaction comes before it). Two transactions taking any two of these then queue up in
the same order and cannot deadlock.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import InvalidTransition, VicidialCallsStopped
from ..models import VicidialCall, VicidialCircuit
from ..predicates import is_decider
from .permissions import require

STOPPED_MESSAGE = (
    "VICIdial rejected the portal's credentials ({reason}). Fix VICIDIAL_API_USER / "
    "VICIDIAL_API_PASS, then an admin resumes VICIdial calls. Nothing is sent until then."
)


def vicidial_circuit_lock() -> VicidialCircuit:
    """The circuit row, locked: take it before any record() of the same transaction."""
    VicidialCircuit.objects.get_or_create(pk=1)
    return VicidialCircuit.objects.select_for_update().get(pk=1)


def vicidial_circuit() -> VicidialCircuit:
    return VicidialCircuit.objects.filter(pk=1).first() or VicidialCircuit(pk=1)


def vicidial_calls_stopped_reason() -> str:
    """Why no call may be sent now ("" if calls are allowed)."""
    circuit = vicidial_circuit()
    return STOPPED_MESSAGE.format(reason=circuit.reason) if circuit.is_open else ""


def ensure_vicidial_calls_allowed() -> None:
    stopped = vicidial_calls_stopped_reason()
    if stopped:
        raise VicidialCallsStopped(stopped)


def vicidial_circuit_open(
    circuit: VicidialCircuit,
    *,
    call: VicidialCall,
    actor: AbstractBaseUser,
    context: AuditContext | None,
) -> None:
    """Open the circuit locked by vicidial_circuit_lock(), in the transaction that records
    the refused call."""
    if circuit.is_open:
        return
    circuit.is_open = True
    circuit.opened_at = timezone.now()
    circuit.reason = call.reason
    circuit.opened_by_call = call
    circuit.save()
    record(
        event_type=EventType.CIRCUIT_OPENED,
        actor=actor,
        context=context,
        request=call.request,
        extensions=call.request.logins_in_order() if call.request else (),
        call=call,
        outcome="open",
        reason=call.reason,
    )


def vicidial_circuit_reset(
    *, actor: AbstractBaseUser, context: AuditContext | None = None
) -> VicidialCircuit:
    require(actor, is_decider, "resume VICIdial calls")
    with transaction.atomic():
        circuit = vicidial_circuit_lock()
        if not circuit.is_open:
            raise InvalidTransition("VICIdial calls are not stopped; nothing to resume.")
        previous_reason = circuit.reason
        circuit.is_open = False
        circuit.reset_at = timezone.now()
        circuit.reset_by = actor
        circuit.save()
        record(
            event_type=EventType.CIRCUIT_RESET,
            actor=actor,
            context=context,
            outcome="closed",
            reason=previous_reason,
            changes={"is_open": [True, False]},
        )
    return circuit
