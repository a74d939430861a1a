"""One total deadline per VICIdial call, over connect, send and read.

requests' read timeout applies to each socket read, so a server that sends one byte a
second never trips it. A watchdog timer shuts the call's sockets down at the deadline
instead; the sockets are registered by the connection classes of the client's own session.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Watchdog:
    """Shuts down every socket of the call made in this thread once `seconds` have passed.

    Use as a context manager around one call; `finish()` as soon as the answer is read.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.sending_started = False
        self._finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        _current.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()
        _current.watchdog = None

    def finish(self) -> bool:
        """Stop watching; True if the call was complete before the deadline."""
        with self._lock:
            self._finished = True
        self._timer.cancel()
        return not self.expired

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.expired:
                _shut(sock)
            elif not self._finished:
                self._sockets.append(sock)

    def about_to_send(self) -> None:
        # Under the lock, so "nothing was sent" is certain whenever sending never started.
        with self._lock:
            if self.expired:
                raise TimeoutError("the call's deadline passed before the request was sent")
            self.sending_started = True

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, even for a TLS socket: it wakes a recv() blocked in the
    # calling thread at once, without ssl.SSLSocket.shutdown()'s unsynchronised teardown.
    # A raw socket that TLS took over has no descriptor left, which raises: nothing to do.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watchdog() -> Watchdog | None:
    return getattr(_current, "watchdog", None)


class _WatchedConnection:
    """Registers its sockets with the watchdog of the call being made in this thread."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        if (watchdog := _watchdog()) is not None:
            watchdog.watch(sock)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        if (watchdog := _watchdog()) is not None:
            watchdog.watch(self.sock)  # for https, the TLS socket that replaced the raw one

    def send(self, data: Any) -> None:
        # http.client connects lazily inside send(); connecting first keeps "sending
        # started" true only once a byte may really leave.
        if self.sock is None and self.auto_open:
            self.connect()
        if (watchdog := _watchdog()) is not None:
            watchdog.about_to_send()
        super().send(data)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections a Watchdog can cut off."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
