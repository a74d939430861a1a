"""A VICIdial non_agent_api.php stand-in that is a real HTTP server.

It answers version, add_phone_alias and update_phone_alias with the statuses and byte-exact
bodies of a real 2.14-202 server (tests/fixtures/vicidial-responses.json), so tests and the
demo go through the same HTTP path as production.
"""

from .server import VicidialSimulator
from .state import (
    API_PATH,
    DEMO_PHONES,
    EAST_DEMO_PHONES,
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
    demo_phones,
    demo_state,
    php_warnings,
    php_warnings_stream,
    vicidial_filtered,
)
from .store import MariaDBStore, MemoryStore, StoreError

__all__ = [
    "API_PATH",
    "DEMO_PHONES",
    "EAST_DEMO_PHONES",
    "LOCK_ATTEMPTS",
    "LOCK_SECONDS",
    "MAX_FAULT_DELAY",
    "MariaDBStore",
    "MemoryStore",
    "PROTOCOLS",
    "Fault",
    "ReceivedRequest",
    "SimAlias",
    "SimPhone",
    "SimUser",
    "SimulatorState",
    "StoreError",
    "VicidialSimulator",
    "demo_phones",
    "demo_state",
    "php_warnings",
    "php_warnings_stream",
    "vicidial_filtered",
]
