"""What the simulated VICIdial knows: users, phones, aliases, and injected faults."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from .records import SimAlias, SimPhone
from .store import MariaDBStore, MemoryStore

API_PATH = "/vicidial/non_agent_api.php"
CONTENT_TYPE = "text/html; charset=utf-8"
DEMO_SERVER_IP = "10.10.10.15"
LOCK_ATTEMPTS = 10
LOCK_SECONDS = 15 * 60
MAX_FAULT_DELAY = 5.0
PROTOCOLS = ("SIP", "IAX2", "Zap", "EXTERNAL")
COLUMN_WIDTHS = {"alias_id": 20, "alias_name": 50, "logins_list": 255}
COFFEE_BODY = "Coffee: coffee|Error 418 I'm a teapot"

# VICIdial silently deletes every character outside these classes before using a value.
_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]")
_DELETED_CHARACTERS = {
    "user": _ID_CHARACTERS,
    "pass": _ID_CHARACTERS,
    "alias_id": _ID_CHARACTERS,
    "source": re.compile(r"[^A-Za-z0-9]"),
    "alias_name": re.compile(r"[^A-Za-z0-9 +.:/@_-]"),
    "phone_logins": re.compile(r"[^A-Za-z0-9_,-]"),
    "delete_alias": re.compile(r"[^A-Z]"),
}


def vicidial_filtered(name: str, value: str) -> str:
    deleted = _DELETED_CHARACTERS.get(name)
    return deleted.sub("", value) if deleted else value


@dataclass
class SimUser:
    user: str
    password: str
    user_level: int = 9
    active: bool = True
    api_access: bool = True  # vdc_agent_api_access
    ast_admin_access: bool = True
    ast_delete_phones: bool = True
    api_allowed_functions: str = "ALL_FUNCTIONS"
    failed_logins: int = 0
    last_login: float | None = None

    def may_call(self, function: str) -> bool:
        allowed = self.api_allowed_functions
        return "ALL_FUNCTIONS" in allowed or function in allowed.split()

    @property
    def may_admin_phones(self) -> bool:
        return self.user_level >= 8 and self.api_access and self.ast_admin_access


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    params: dict[str, str]  # merged as VICIdial sees them, before character filtering
    body: bytes
    time: float


@dataclass
class Fault:
    """Misbehaviour for the next `times` API requests (None: until cleared)."""

    delay: float = 0.0  # seconds before answering, capped at MAX_FAULT_DELAY
    status: int | None = None  # answer with this status instead ...
    body: str | bytes | None = None  # ... and/or this body instead of the real one
    prefix: str = ""  # put before the real body, e.g. php_warnings()
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)  # e.g. Location
    reset: bool = False  # read the request, then reset the connection without answering
    process: bool = True  # whether VICIdial still does the work: the ambiguous case
    # Send the whole answer (status line, headers, body) one byte every `drip` seconds:
    # each read gets something, so only a total deadline ends the call.
    drip: float = 0.0
    # Bytes of PHP warnings streamed before / after the answer, generated as they are sent,
    # e.g. 50 MB each side of the result line.
    padding: int = 0
    padding_after: int = 0
    times: int | None = 1


DEMO_PHONES = (
    SimPhone("cc100", "cc100", "SIP", DEMO_SERVER_IP),
    SimPhone("bb100", "bb100", "SIP", DEMO_SERVER_IP),
    SimPhone("1001", "1001", "SIP", DEMO_SERVER_IP),
    SimPhone("1002", "1002", "IAX2", DEMO_SERVER_IP),
    SimPhone("1003", "1003", "SIP", DEMO_SERVER_IP),
    SimPhone("1004", "1004", "SIP", DEMO_SERVER_IP),
    SimPhone("2001", "2001", "IAX2", DEMO_SERVER_IP),
    SimPhone("2002", "2002", "EXTERNAL", DEMO_SERVER_IP),
)
# The demo's second server: some logins it shares with the first, some only it has.
EAST_DEMO_SERVER_IP = "10.20.10.15"
EAST_DEMO_PHONES = (
    SimPhone("cc100", "cc100", "SIP", EAST_DEMO_SERVER_IP),
    SimPhone("1001", "1001", "SIP", EAST_DEMO_SERVER_IP),
    SimPhone("1002", "1002", "SIP", EAST_DEMO_SERVER_IP),
    SimPhone("3001", "3001", "SIP", EAST_DEMO_SERVER_IP),
    SimPhone("3002", "3002", "IAX2", EAST_DEMO_SERVER_IP),
    SimPhone("3003", "3003", "EXTERNAL", EAST_DEMO_SERVER_IP),
)


def demo_phones(server: str) -> tuple[SimPhone, ...]:
    """The phones the demo's simulator for `server` has (the first server's for any other)."""
    return EAST_DEMO_PHONES if server == "east" else DEMO_PHONES


def php_warnings_stream(size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of PHP warnings in chunks, ending in a line break, never held
    whole: a 100 MB answer costs one 64 KB block of memory."""
    block = php_warnings(450).encode()
    while size > 0:
        piece = block[:size]
        size -= len(piece)
        yield piece if size else piece[:-1] + b"\n"


def php_warnings(count: int = 200, *, last_line_break: bool = True) -> str:
    """HTML that PHP's display_errors puts before the answer (about 140 bytes per warning)."""
    warning = (
        "<br />\n<b>Warning</b>:  Undefined variable $x in "
        "<b>/srv/www/htdocs/vicidial/non_agent_api.php</b> on line <b>{}</b><br />\n"
    )
    text = "".join(warning.format(1234 + number) for number in range(count))
    return text if last_line_break else text.removesuffix("\n")


class SimulatorState:
    """Everything the simulated VICIdial knows; every access goes through one lock."""

    def __init__(
        self,
        *,
        strict_sql: bool = True,
        allowed_ips: set[str] | None = None,
        clock: Callable[[], float] = time.time,
        db_url: str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, SimUser] = {}  # keys lower-cased: MySQL compares them that way
        # Phones and aliases live in VICIdial's tables when given a MariaDB (mysql://) URL.
        self.store: MemoryStore | MariaDBStore = (
            MariaDBStore(db_url, strict_sql=strict_sql) if db_url else MemoryStore()
        )
        self.requests_received: list[ReceivedRequest] = []
        self.strict_sql = strict_sql
        self.allowed_ips = allowed_ips
        self.clock = clock
        self.fault: Fault | None = None
        # Called with each request as it arrives, in the server's thread (tests look at the
        # portal's database connections from there, at the moment VICIdial is reached).
        self.on_receive: Callable[[ReceivedRequest], None] | None = None

    def add_user(self, user: str, password: str, **flags: Any) -> SimUser:
        """Add or replace an API user; flags are SimUser fields such as user_level=7."""
        # VICIdial's admin screens filter passwords the same way the API does.
        account = SimUser(user, vicidial_filtered("pass", password), **flags)
        with self.lock:
            self.users[user.lower()] = account
        return account

    def add_phone(
        self,
        login: str,
        *,
        extension: str | None = None,
        protocol: str = "SIP",
        server_ip: str = DEMO_SERVER_IP,
    ) -> SimPhone:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        phone = SimPhone(login, extension or login, protocol, server_ip)
        with self.lock:
            self.store.put_phone(phone)
        return phone

    def add_alias(self, alias_id: str, alias_name: str, logins_list: str) -> SimAlias:
        alias = SimAlias(alias_id, alias_name, logins_list)
        with self.lock:
            self.store.put_alias(alias)
        return alias

    def alias(self, alias_id: str) -> SimAlias | None:
        with self.lock:
            return self.store.alias(alias_id)

    @property
    def phones(self) -> MutableMapping[str, SimPhone]:
        """By lower-cased login."""
        return self.store.phones

    @property
    def aliases(self) -> MutableMapping[str, SimAlias]:
        """By lower-cased alias ID."""
        return self.store.aliases

    def close(self) -> None:
        """Let go of the database connection, if any."""
        self.store.close()

    def inject(self, fault: Fault | None) -> None:
        """Misbehave from the next request on; None clears it."""
        with self.lock:
            self.fault = fault

    def reset(self) -> None:
        """Forget aliases, requests, faults and login history; keep users, phones, settings."""
        with self.lock:
            self.store.clear_aliases()
            self.requests_received.clear()
            self.fault = None
            for account in self.users.values():
                account.failed_logins, account.last_login = 0, None

    def receive(self, request: ReceivedRequest) -> Fault | None:
        with self.lock:
            self.requests_received.append(request)
            fault = self.fault
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.fault = None
            return fault


def demo_state(
    *,
    user: str | None = None,
    password: str | None = None,
    strict_sql: bool = True,
    db_url: str | None = None,
    phones: Sequence[SimPhone] = DEMO_PHONES,
) -> SimulatorState:
    """The demo phones and one API user, by default the portal's own VICIDIAL_API_USER/PASS.

    With `db_url` the phones are written to that MariaDB's `phones` table (replacing rows with
    the same logins) and aliases already in its `phones_alias` are kept."""
    if user is None or password is None:
        from django.conf import settings

        user = settings.VICIDIAL_API_USER if user is None else user
        password = settings.VICIDIAL_API_PASS if password is None else password
    state = SimulatorState(strict_sql=strict_sql, db_url=db_url)
    state.add_user(user, password)
    for phone in phones:
        state.store.put_phone(phone)
    return state
