"""The circuit breaker that stops VICIdial calls once VICIdial refuses the portal's login."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import InvalidTransition, VicidialCallsStopped
from ..models import VicidialCall, VicidialCircuit
from .permissions import require_perm

STOPPED_MESSAGE = (
    "VICIdial rejected the portal's credentials ({reason}). Fix VICIDIAL_API_USER / "
    "VICIDIAL_API_PASS, then an admin resumes VICIdial calls. Nothing is sent until then."
)


def _locked_circuit() -> VicidialCircuit:
    VicidialCircuit.objects.get_or_create(pk=1)
    return VicidialCircuit.objects.select_for_update().get(pk=1)


def vicidial_circuit() -> VicidialCircuit:
    return VicidialCircuit.objects.filter(pk=1).first() or VicidialCircuit(pk=1)


def ensure_vicidial_calls_allowed() -> None:
    circuit = vicidial_circuit()
    if circuit.is_open:
        raise VicidialCallsStopped(STOPPED_MESSAGE.format(reason=circuit.reason))


def vicidial_circuit_open(
    *, call: VicidialCall, actor: AbstractBaseUser, context: AuditContext | None
) -> None:
    """Call inside the transaction that records the refused call."""
    circuit = _locked_circuit()
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
    require_perm(actor, "aliases.decide_aliasrequest", "resume VICIdial calls")
    with transaction.atomic():
        circuit = _locked_circuit()
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
