"""A VICIdial non_agent_api.php stand-in that is a real HTTP server.

It answers version, add_phone_alias and update_phone_alias with the statuses and byte-exact
bodies of a real 2.14-202 server (tests/fixtures/vicidial-responses.json), so tests and the
demo go through the same HTTP path as production.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aliases.vicidial import redact

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
class SimPhone:
    login: str
    extension: str
    protocol: str
    server_ip: str


@dataclass(frozen=True)
class SimAlias:
    alias_id: str
    alias_name: str
    logins_list: str
    user_group: str = "---ALL---"


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
    ) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, SimUser] = {}  # keys lower-cased: MySQL compares them that way
        self.phones: dict[str, SimPhone] = {}
        self.aliases: dict[str, SimAlias] = {}
        self.requests_received: list[ReceivedRequest] = []
        self.strict_sql = strict_sql
        self.allowed_ips = allowed_ips
        self.clock = clock
        self.fault: Fault | None = None

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
            self.phones[login.lower()] = phone
        return phone

    def add_alias(self, alias_id: str, alias_name: str, logins_list: str) -> SimAlias:
        alias = SimAlias(alias_id, alias_name, logins_list)
        with self.lock:
            self.aliases[alias_id.lower()] = alias
        return alias

    def alias(self, alias_id: str) -> SimAlias | None:
        with self.lock:
            return self.aliases.get(alias_id.lower())

    def inject(self, fault: Fault | None) -> None:
        """Misbehave from the next request on; None clears it."""
        with self.lock:
            self.fault = fault

    def reset(self) -> None:
        """Forget aliases, requests, faults and login history; keep users, phones, settings."""
        with self.lock:
            self.aliases.clear()
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

    def answer(self, params: Mapping[str, str], *, client_ip: str) -> tuple[int, str]:
        """VICIdial's (HTTP status, body) for one request.

        Check order, worked out from the fixtures: version and coffee (no login needed);
        login (unknown or inactive user or wrong password, lockout, IP allow-list); the
        user's api_allowed_functions; source; unknown function. Then per function:
        permission, required fields, alias exists, each phone login in turn, and last the
        column widths (strict SQL mode: HTTP 500, empty body, nothing written).
        """
        value = {name: vicidial_filtered(name, raw) for name, raw in params.items()}
        function = params.get("function", "")
        with self.lock:
            if function == "version":
                return 200, self._version_body()
            if function == "coffee":
                return 418, COFFEE_BODY
            try:
                return 200, self._authorised_answer(function, value, client_ip)
            except _StrictSqlRefusal:
                return 500, ""

    def _authorised_answer(self, function: str, value: dict[str, str], client_ip: str) -> str:
        user = value.get("user", "")
        refusal = self._login_refusal(user, value.get("pass", ""), client_ip)
        if refusal:
            return refusal
        account = self.users[user.lower()]
        if not account.may_call(function):
            reason = "auth USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION"
            return f"ERROR: {reason}: |{user}|{function}|\n"
        source = value.get("source", "")
        if len(source) < 2:
            return f"ERROR: Invalid Source - {source}\nERROR: Invalid Source: |{source}|\n"
        if function == "add_phone_alias":
            return self._add_alias(account, user, value)
        if function == "update_phone_alias":
            return self._update_alias(account, user, value)
        return "ERROR: NO FUNCTION SPECIFIED\n"

    def _version_body(self) -> str:
        now = self.clock()
        # The observed server printed DATE in its own clock's zone (UTC: EPOCH 1795724700 is
        # 20:25:00) while reporting TZ -5.00 from its VICIdial settings.
        date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return (
            f"VERSION: 2.14-202|BUILD: 250720-1841|DATE: {date}|EPOCH: {int(now)}"
            "|DST: 0|TZ: -5.00|TZNOW: -5.00|\n"
        )

    def _login_refusal(self, user: str, password: str, client_ip: str) -> str | None:
        account = self.users.get(user.lower())
        now = self.clock()
        if account is not None and account.active:
            recently_logged_in = (
                account.last_login is not None and now - account.last_login < LOCK_SECONDS
            )
            if account.failed_logins >= LOCK_ATTEMPTS and recently_logged_in:
                return f"ERROR: Too many login attempts, try again in 15 minutes: |{user}|LOCK|\n"
            if len(password) >= 2 and password == account.password:
                if self.allowed_ips is not None and client_ip not in self.allowed_ips:
                    return f"ERROR: Your IP Address is not allowed: {client_ip}: |{user}|IPBLOCK|\n"
                account.failed_logins, account.last_login = 0, now
                return None
            account.failed_logins += 1
        # VICIdial echoes the (filtered) password it was sent.
        return f"ERROR: Login incorrect, please try again: |{user}|{password}|BAD|\n"

    def _add_alias(self, account: SimUser, user: str, value: dict[str, str]) -> str:
        alias_id = value.get("alias_id", "")
        alias_name = value.get("alias_name", "")
        logins = value.get("phone_logins", "")
        error = "ERROR: add_phone_alias"
        if not account.may_admin_phones:
            return f"{error} USER DOES NOT HAVE PERMISSION TO ADD PHONE ALIASES: |{user}|0\n"
        if len(alias_id) < 2 or not alias_name or len(logins) < 2:
            fields = f"|{user}|{alias_id}|{alias_name}|{logins}"
            return f"{error} YOU MUST USE ALL REQUIRED FIELDS: {fields}\n"
        if self.alias(alias_id):
            return f"{error} PHONE ALIAS ALREADY EXISTS: |{user}|{alias_id}\n"
        unknown = self._first_unknown_login(logins)
        if unknown is not None:
            return f"{error} PHONE DOES NOT EXIST: |{user}|{unknown}\n"
        row = self._stored_row(alias_id=alias_id, alias_name=alias_name, logins_list=logins)
        if row["alias_id"].lower() in self.aliases:
            raise _StrictSqlRefusal  # duplicate key after truncation fails in any SQL mode
        self.aliases[row["alias_id"].lower()] = SimAlias(**row)
        added = f"{user}|{alias_id}|{alias_name}|{logins}"
        return f"SUCCESS: add_phone_alias PHONE ALIAS HAS BEEN ADDED - {added}\n"

    def _update_alias(self, account: SimUser, user: str, value: dict[str, str]) -> str:
        alias_id = value.get("alias_id", "")
        alias_name = value.get("alias_name", "")
        logins = value.get("phone_logins", "")
        delete = value.get("delete_alias", "")
        error, notice = "ERROR: update_phone_alias", "NOTICE: update_phone_alias"
        success = "SUCCESS: update_phone_alias PHONE ALIAS HAS BEEN"
        if not account.may_admin_phones:
            return f"{error} USER DOES NOT HAVE PERMISSION TO UPDATE PHONE ALIASES: |{user}|0\n"
        if len(alias_id) < 2 or not (alias_name or logins or delete):
            return f"{error} YOU MUST USE ALL REQUIRED FIELDS: |{user}|{alias_id}|{alias_name}|\n"
        alias = self.alias(alias_id)
        if alias is None:
            return f"{error} PHONE ALIAS DOES NOT EXIST: |{user}|{alias_id}\n"
        if delete == "Y":
            if not account.ast_delete_phones:
                reason = "USER DOES NOT HAVE PERMISSION TO DELETE PHONE ALIASES"
                return f"{notice} {reason}: |{user}|0\n"
            del self.aliases[alias_id.lower()]
            return f"{success} DELETED - {user}|{alias_id}\n"
        changes = {}
        if alias_name:
            if not 2 <= len(alias_name) <= COLUMN_WIDTHS["alias_name"]:
                return f"{error} YOU MUST USE A VALID ALIAS NAME: |{user}|{alias_name}\n"
            changes["alias_name"] = alias_name
        # VICIdial ignores phone_logins shorter than 2 characters without a word (fixture U6b).
        if len(logins) >= 2:
            unknown = self._first_unknown_login(logins)
            if unknown is not None:
                return f"{error} PHONE DOES NOT EXIST: |{user}|{unknown}\n"
            changes["logins_list"] = logins
        if not changes:
            return f"{notice} NO UPDATES DEFINED: |{user}|\n"
        self.aliases[alias_id.lower()] = dataclasses.replace(alias, **self._stored_row(**changes))
        return f"{success} UPDATED - {user}|{alias_id}|\n"

    def _first_unknown_login(self, logins: str) -> str | None:
        # Checked one by one, so an empty element ("cc100,") is a phone that does not exist.
        unknown = (login for login in logins.split(",") if login.lower() not in self.phones)
        return next(unknown, None)

    def _stored_row(self, **columns: str) -> dict[str, str]:
        """Columns as MySQL stores them: strict mode refuses over-long values, lenient cuts."""
        if self.strict_sql and any(
            len(text) > COLUMN_WIDTHS[name] for name, text in columns.items()
        ):
            raise _StrictSqlRefusal
        return {name: text[: COLUMN_WIDTHS[name]] for name, text in columns.items()}


class _StrictSqlRefusal(Exception):
    """The write failed in MySQL: PHP dies with HTTP 500 and an empty body."""


def demo_state(
    *, user: str | None = None, password: str | None = None, strict_sql: bool = True
) -> SimulatorState:
    """The demo phones and one API user, by default the portal's own VICIDIAL_API_USER/PASS."""
    if user is None or password is None:
        from django.conf import settings

        user = settings.VICIDIAL_API_USER if user is None else user
        password = settings.VICIDIAL_API_PASS if password is None else password
    state = SimulatorState(strict_sql=strict_sql)
    state.add_user(user, password)
    state.phones.update((phone.login.lower(), phone) for phone in DEMO_PHONES)
    return state


def _breaks_vicidial_log(last_post_value: str) -> bool:
    # VICIdial writes the last POST field unescaped into its own log: the SQL fails after the
    # answer was produced, so the body is complete but the status is 500 (fixtures A9, V4).
    return "'" in last_post_value or last_post_value.endswith("\\")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "Apache"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the default goes to stderr and a GET query string holds the password

    def _serve(self) -> None:
        target = urlsplit(self.path)
        raw_body = self.rfile.read(self._content_length())
        if target.path != API_PATH:
            self._answer(404, "<html><body><h1>Not Found</h1></body></html>\n")
            return
        form = []
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        # Like PHP: the last duplicate wins, and the query string wins over the body.
        params = dict(form) | dict(parse_qsl(target.query, keep_blank_values=True))
        simulator = self.server.simulator
        state = simulator.state
        fault = state.receive(
            ReceivedRequest(self.command, self.path, params, raw_body, state.clock())
        )
        status, body = 200, ""
        if fault is None or fault.process:
            status, body = state.answer(params, client_ip=self.client_address[0])
        if form and _breaks_vicidial_log(form[-1][1]):
            status = 500
        if fault is not None:
            simulator.stopping.wait(min(fault.delay, MAX_FAULT_DELAY))
            if fault.reset:
                self._reset_connection()
                return
            status = fault.status or status
            body = fault.prefix + body if fault.body is None else fault.body
        self._answer(status, body, fault.headers if fault else {})
        simulator.log_answer(self.command, params, status, body)

    def _content_length(self) -> int:
        length = self.headers.get("Content-Length", "0")
        return int(length) if length.isdigit() else 0

    def _answer(self, status: int, body: str | bytes, headers: Mapping[str, str] = {}) -> None:
        payload = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
        try:
            self.send_response(status)
            for name, value in {"Content-Type": CONTENT_TYPE, **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its read timeout), as real clients do

    def _reset_connection(self) -> None:
        # SO_LINGER 0 turns close() into a TCP RST. The makefile() reader holds a reference
        # to the socket, so it has to go first or close() would be deferred.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: VicidialSimulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)


class VicidialSimulator:
    def __init__(
        self, state: SimulatorState | None = None, *, log: Callable[[str], None] | None = None
    ) -> None:
        self.state = state or SimulatorState()
        self.stopping = threading.Event()
        self._log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> VicidialSimulator:
        self.stopping.clear()
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="vicidial-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API_PATH}"

    def stop(self) -> None:
        if self._server is None:
            return
        self.stopping.set()  # ends injected delays at once
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=MAX_FAULT_DELAY)
        self._server = self._thread = None

    def log_answer(
        self, method: str, params: Mapping[str, str], status: int, body: str | bytes
    ) -> None:
        if self._log is None:
            return
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        first_line = redact(text.strip().partition("\n")[0], params.get("pass", ""))
        self._log(f"{method} {params.get('function', '-')} -> {status} {first_line}")

    def __enter__(self) -> VicidialSimulator:
        return self if self._server else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
