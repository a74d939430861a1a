"""A VICIdial non_agent_api.php stand-in that is a real HTTP server.

It answers version, add_phone_alias and update_phone_alias with the statuses and byte-exact
bodies of a real 2.14-202 server (tests/fixtures/vicidial-responses.json), so tests and the
demo go through the same HTTP path as production.
"""

from .server import VicidialSimulator
from .state import (
    API_PATH,
    DEMO_PHONES,
    LOCK_ATTEMPTS,
    LOCK_SECONDS,
    MAX_FAULT_DELAY,
    PROTOCOLS,
    Fault,
    ReceivedRequest,
    SimAlias,
    SimPhone,
    SimulatorState,
    SimUser,
    demo_state,
    php_warnings,
    php_warnings_stream,
    vicidial_filtered,
)

__all__ = [
    "API_PATH",
    "DEMO_PHONES",
    "LOCK_ATTEMPTS",
    "LOCK_SECONDS",
    "MAX_FAULT_DELAY",
    "PROTOCOLS",
    "Fault",
    "ReceivedRequest",
    "SimAlias",
    "SimPhone",
    "SimUser",
    "SimulatorState",
    "VicidialSimulator",
    "demo_state",
    "php_warnings",
    "php_warnings_stream",
    "vicidial_filtered",
]
