"""The simulator as a real HTTP server on loopback, in a thread of its own."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from aliases.vicidial import redact

from .api import answer
from .state import (
    API_PATH,
    CONTENT_TYPE,
    MAX_FAULT_DELAY,
    Fault,
    ReceivedRequest,
    SimulatorState,
    php_warnings_stream,
)


def _breaks_vicidial_log(last_post_value: str) -> bool:
    # VICIdial writes the last POST field unescaped into its own log: the SQL fails after the
    # answer was produced, so the body is complete but the status is 500 (fixtures A9, V4).
    return "'" in last_post_value or last_post_value.endswith("\\")


def _encoded(body: str | bytes) -> bytes:
    return body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body


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
        received = ReceivedRequest(self.command, self.path, params, raw_body, state.clock())
        fault = state.receive(received)
        if state.on_receive is not None:
            state.on_receive(received)
        status, body = 200, ""
        if fault is None or fault.process:
            status, body = answer(state, params, client_ip=self.client_address[0])
        if form and _breaks_vicidial_log(form[-1][1]):
            status = 500
        if fault is not None:
            simulator.stopping.wait(min(fault.delay, MAX_FAULT_DELAY))
            if fault.reset:
                self._reset_connection()
                return
            status = fault.status or status
            body = fault.prefix + body if fault.body is None else fault.body
            if fault.drip:
                self._drip(status, body, fault.headers, fault.drip)
                return
            if fault.padding or fault.padding_after:
                self._answer_padded(status, body, fault)
                return
        self._answer(status, body, fault.headers if fault else {})
        simulator.log_answer(self.command, params, status, body)

    def _content_length(self) -> int:
        length = self.headers.get("Content-Length", "0")
        return int(length) if length.isdigit() else 0

    def _answer(self, status: int, body: str | bytes, headers: Mapping[str, str] = {}) -> None:
        payload = _encoded(body)
        try:
            self.send_response(status)
            for name, value in {"Content-Type": CONTENT_TYPE, **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its read timeout), as real clients do

    def _drip(
        self, status: int, body: str | bytes, headers: Mapping[str, str], interval: float
    ) -> None:
        payload = _encoded(body)
        lines = [f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}"]
        fields = {"Content-Type": CONTENT_TYPE, **headers, "Content-Length": str(len(payload))}
        lines += [f"{name}: {value}" for name, value in fields.items()]
        data = "\r\n".join([*lines, "", ""]).encode("latin-1") + payload
        try:
            for index in range(len(data)):
                if self.server.simulator.stopping.wait(interval):
                    return
                self.wfile.write(data[index : index + 1])
        except OSError:
            pass  # the client gave up, as it should
        self.close_connection = True

    def _answer_padded(self, status: int, body: str | bytes, fault: Fault) -> None:
        payload = _encoded(body)
        try:
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            size = fault.padding + len(payload) + fault.padding_after
            self.send_header("Content-Length", str(size))
            self.end_headers()
            for piece in php_warnings_stream(fault.padding):
                self.wfile.write(piece)
            self.wfile.write(payload)
            for piece in php_warnings_stream(fault.padding_after):
                self.wfile.write(piece)
        except OSError:
            pass  # the client gave up
        self.close_connection = True

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
