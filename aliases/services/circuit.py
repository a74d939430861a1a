"""The circuit breaker that stops VICIdial calls once VICIdial refuses the portal's login.

Lock order, everywhere: the request row, then the alias (inventory) row, then the circuit
row, then call and slot rows, and the audit chain head last (the first record() takes it,
so every other lock of the transaction comes before it). Two transactions taking any two
of these then queue up in the same order and cannot deadlock.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..audit import AuditContext, EventType, record
from ..errors import InvalidTransition, UnknownVicidialServer, VicidialCallsStopped
from ..models import VicidialCall, VicidialCircuit
from ..predicates import is_decider
from ..vicidial.servers import DEFAULT_SERVER, server_label, server_names, setting_name
from .notify import circuit_opened_on_commit
from .permissions import require

STOPPED_MESSAGE = (
    "VICIdial server {server} rejected the portal's credentials ({reason}). Fix {user} / "
    "{password}, then an admin resumes calls to it. Nothing is sent to it until then."
)


def vicidial_circuit_lock(server: str = DEFAULT_SERVER) -> VicidialCircuit:
    """The server's circuit row, locked: take it before any record() of the transaction."""
    VicidialCircuit.objects.get_or_create(server=server)
    return VicidialCircuit.objects.select_for_update().get(server=server)


def vicidial_circuit(server: str = DEFAULT_SERVER) -> VicidialCircuit:
    return VicidialCircuit.objects.filter(server=server).first() or VicidialCircuit(server=server)


def vicidial_circuits_open() -> list[VicidialCircuit]:
    """Every configured server whose calls are stopped, for the banner (a server removed
    from the settings gets no calls, and its circuit cannot be resumed)."""
    return list(VicidialCircuit.objects.filter(is_open=True, server__in=server_names()))


def vicidial_calls_stopped_reason(server: str = DEFAULT_SERVER) -> str:
    """Why no call may be sent to `server` now ("" if calls are allowed)."""
    circuit = vicidial_circuit(server)
    if not circuit.is_open:
        return ""
    return STOPPED_MESSAGE.format(
        server=server_label(server),
        reason=circuit.reason,
        user=setting_name(server, "API_USER"),
        password=setting_name(server, "API_PASS"),
    )


def ensure_vicidial_calls_allowed(server: str = DEFAULT_SERVER) -> None:
    stopped = vicidial_calls_stopped_reason(server)
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
        extensions=call.request.logins_touched() if call.request else (),
        call=call,
        outcome="open",
        reason=call.reason,
        changes={"server": circuit.server},
    )
    circuit_opened_on_commit(circuit.server)


def vicidial_circuit_close(
    *,
    actor: AbstractBaseUser,
    server: str = DEFAULT_SERVER,
    context: AuditContext | None = None,
) -> VicidialCircuit:
    """Close the server's circuit (services.vicidial_circuit_reset also hands the approvals
    that waited meanwhile to the worker)."""
    require(actor, is_decider, "resume VICIdial calls")
    if server not in server_names():
        # Checked before the circuit row is made: a posted name must not create one.
        raise UnknownVicidialServer(
            "The portal has no VICIdial server of that name (it may have been removed "
            "from the settings). Nothing was resumed."
        )
    with transaction.atomic():
        circuit = vicidial_circuit_lock(server)
        if not circuit.is_open:
            raise InvalidTransition(
                f"Calls to VICIdial server {server_label(server)} are not stopped; "
                "nothing to resume."
            )
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
            changes={"server": server, "is_open": [True, False]},
        )
    return circuit
