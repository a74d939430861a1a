"""The one module that talks HTTP to VICIdial's non_agent_api.php."""

from __future__ import annotations

import html
import http.client
import re
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables
from requests.exceptions import ChunkedEncodingError, InvalidSchema, InvalidURL, MissingSchema
from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from .body import BodyCollector, CappedBody
from .deadline import Watchdog, WatchedAdapter
from .protocol import (
    CallResult,
    ParsedResponse,
    TransportError,
    _unrecognised,
    classify,
    parse_response,
)
from .redaction import mask_for, redact

Fields = list[tuple[str, str]]

# VICIdial's source column is 20 wide and keeps only [A-Za-z0-9]. The tag is short enough
# that any request number up to 12 digits still fits: two requests never share a source.
SOURCE_WIDTH = 20
MAX_REFERENCE_DIGITS = 12
SOURCE_TAG = re.compile(rf"[A-Za-z0-9]{{2,{SOURCE_WIDTH - MAX_REFERENCE_DIGITS}}}")
# Below this, even a plain answer after a page of PHP warnings would be cut.
MIN_BODY_CAP = 4096
CHUNK_BYTES = 64 * 1024
# The fields that carry the user's own data; VICIdial echoes them back in its answers.
USER_DATA_FIELDS = ("alias_id", "alias_name", "phone_logins")


def add_params(*, alias_id: str, alias_name: str, phone_logins: Sequence[str]) -> Fields:
    return [
        ("alias_id", alias_id),
        ("alias_name", alias_name),
        ("phone_logins", ",".join(phone_logins)),
    ]


def update_params(
    *,
    alias_id: str,
    alias_name: str | None = None,
    phone_logins: Sequence[str] | None = None,
    delete: bool = False,
) -> Fields:
    """update_phone_alias changes only the fields it is sent; a delete sends only the flag."""
    params = [("alias_id", alias_id)]
    if alias_name is not None:
        params.append(("alias_name", alias_name))
    if phone_logins is not None:
        params.append(("phone_logins", ",".join(phone_logins)))
    if delete:
        params.append(("delete_alias", "Y"))
    return params


PARAMETERS = {"add_phone_alias": add_params, "update_phone_alias": update_params}


@dataclass(frozen=True)
class VicidialConfig:
    url: str
    user: str
    password: str = field(repr=False)
    source_tag: str
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    method: str = "POST"
    # One deadline over connect, send and read: the read timeout alone is per socket read.
    total_deadline: float = 20.0
    max_body_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        if self.method not in ("GET", "POST"):
            raise ImproperlyConfigured(
                f"VICIDIAL_HTTP_METHOD must be GET or POST, not {self.method!r}."
            )
        if not SOURCE_TAG.fullmatch(self.source_tag):
            raise ImproperlyConfigured(
                f"VICIDIAL_API_SOURCE must be 2 to {SOURCE_WIDTH - MAX_REFERENCE_DIGITS} "
                f"letters or digits, not {self.source_tag!r}: the request number is appended "
                f"and VICIdial keeps {SOURCE_WIDTH} characters."
            )
        if not self.total_deadline > self.connect_timeout > 0:
            raise ImproperlyConfigured(
                f"VICIDIAL_TOTAL_DEADLINE ({self.total_deadline:g} s) must exceed "
                f"VICIDIAL_CONNECT_TIMEOUT ({self.connect_timeout:g} s)."
            )
        if self.max_body_bytes < MIN_BODY_CAP:
            raise ImproperlyConfigured(f"VICIDIAL_MAX_BODY_BYTES must be at least {MIN_BODY_CAP}.")

    @classmethod
    def from_settings(cls, server: str = "default") -> VicidialConfig:
        """The configuration of one server of the registry (servers.py)."""
        from .servers import vicidial_server  # servers.py builds on this module

        return vicidial_server(server).config

    @property
    def public_url(self) -> str:
        """The URL as calls record it and pages show it: no credentials, query or fragment,
        and the password masked should the path hold it."""
        return redact(_public_url(self.url), self.password)

    def source_for(self, reference: str) -> str:
        """The `source` sent for `reference` (a request number); refused rather than cut."""
        if reference and not (reference.isascii() and reference.isalnum()):
            raise ValueError(f"a VICIdial source reference is letters and digits: {reference!r}")
        if len(reference) > MAX_REFERENCE_DIGITS:
            raise ValueError(
                f"reference {reference!r} is longer than {MAX_REFERENCE_DIGITS} characters: "
                f"the source would not fit VICIdial's {SOURCE_WIDTH}-character column"
            )
        return self.source_tag + reference


@dataclass(frozen=True)
class CallReply:
    function: str
    method: str
    url: str
    sent_params: tuple[tuple[str, str], ...]
    http_status: int | None
    body: str
    parsed: ParsedResponse
    result: CallResult
    transport_error: str
    duration_ms: int
    source: str
    body_bytes: int | None = None  # as received, before any cut
    body_truncated: bool = False


@dataclass(frozen=True)
class _Answer:
    status: int | None
    body: CappedBody | None
    failure: TransportError | None


class VicidialClient:
    """Makes exactly one HTTP request per call and never raises for network or server trouble.

    Retrying is left to the caller: only it knows whether an alias may already exist.
    An injected session is used as given (a plain requests.Session does not retry, and
    the total deadline holds only with the client's own session).
    """

    def __init__(
        self,
        config: VicidialConfig | None = None,
        *,
        session: requests.Session | None = None,
        server: str = "default",
    ) -> None:
        self.config = config or VicidialConfig.from_settings(server)
        self.session = session or _session_without_retries()

    def add_phone_alias(
        self,
        *,
        alias_id: str,
        alias_name: str,
        phone_logins: Sequence[str],
        reference: str,
        deadline: float | None = None,
    ) -> CallReply:
        params = add_params(alias_id=alias_id, alias_name=alias_name, phone_logins=phone_logins)
        return self._call("add_phone_alias", params, reference=reference, deadline=deadline)

    def update_phone_alias(
        self,
        *,
        alias_id: str,
        alias_name: str | None = None,
        phone_logins: Sequence[str] | None = None,
        delete: bool = False,
        reference: str,
        deadline: float | None = None,
    ) -> CallReply:
        params = update_params(
            alias_id=alias_id, alias_name=alias_name, phone_logins=phone_logins, delete=delete
        )
        return self._call("update_phone_alias", params, reference=reference, deadline=deadline)

    def preview(
        self, function: str, arguments: dict[str, Any], *, reference: str
    ) -> tuple[tuple[str, str], ...]:
        """The fields a call of `function` with these arguments would send, in order, with
        the password masked: what an approver sees before the call is made."""
        params = PARAMETERS[function](**arguments)
        return self._masked(self._fields(function, params, reference=reference, login=True))

    def version(self) -> CallReply:
        # version needs no credentials, so none are sent.
        return self._call("version", [], reference="", login=False)

    @sensitive_variables()
    def _call(
        self,
        function: str,
        params: Fields,
        *,
        reference: str,
        login: bool = True,
        deadline: float | None = None,
    ) -> CallReply:
        config = self.config
        fields = self._fields(function, params, reference=reference, login=login)
        source = fields[-1][1]
        seconds = config.total_deadline
        if deadline is not None:
            seconds = min(seconds, deadline)
        started = time.monotonic()
        answer = self._send(fields, seconds)
        duration_ms = int((time.monotonic() - started) * 1000)

        secret = config.password
        keep = _echoes_of_user_data(params)
        captured = answer.body
        body = redact(captured.text, secret, keep=keep) if captured else ""
        failure = answer.failure
        if failure is not None:
            failure = TransportError(failure.kind, redact(failure.message, secret))
        if captured is not None and captured.truncated:
            line = redact(captured.result_line, secret, keep=keep)
            parsed = (
                parse_response(line)
                if line
                else _unrecognised(f"no VICIdial result line in {captured.size:,} bytes")
            )
        elif captured is not None and (failure is None or body):
            parsed = parse_response(body)
        else:
            parsed = _unrecognised(failure.message if failure else "empty response body")
        return CallReply(
            function=function,
            method=config.method,
            url=config.public_url,
            # The user's values are recorded as sent, word for word; only the password goes.
            sent_params=self._masked(fields),
            http_status=answer.status,
            body=body,
            parsed=parsed,
            result=classify(parsed=parsed, transport_error=failure),
            transport_error=failure.message if failure else "",
            duration_ms=duration_ms,
            source=source,
            body_bytes=captured.size if captured else None,
            body_truncated=bool(captured and captured.truncated),
        )

    @sensitive_variables()
    def _fields(self, function: str, params: Fields, *, reference: str, login: bool) -> Fields:
        config = self.config
        credentials = [("user", config.user), ("pass", config.password)]
        # VICIdial logs the last POST field unescaped and answers HTTP 500 when it holds a
        # quote or ends in a backslash, so the strictly alphanumeric source goes last.
        fields = [("function", function), *(credentials if login else []), *params]
        fields.append(("source", config.source_for(reference)))
        return fields

    def _masked(self, fields: Fields) -> tuple[tuple[str, str], ...]:
        secret = self.config.password
        return tuple(
            (name, mask_for(secret) if name == "pass" else value) for name, value in fields
        )

    @sensitive_variables()
    def _send(self, fields: Fields, seconds: float) -> _Answer:
        config = self.config
        as_form = config.method == "POST"
        status, collector = None, BodyCollector(config.max_body_bytes)
        with Watchdog(seconds) as watchdog:
            try:
                response = self.session.request(
                    config.method,
                    config.url,
                    data=fields if as_form else None,
                    params=None if as_form else fields,
                    timeout=(config.connect_timeout, config.read_timeout),
                    allow_redirects=False,
                    # A fresh connection per call: a stale keep-alive connection would turn
                    # into an ambiguous "connection aborted" although VICIdial saw nothing.
                    headers={"Connection": "close"},
                    # Read as a stream, so a huge answer never sits in memory whole.
                    stream=True,
                )
                status = response.status_code
                try:
                    for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
                        collector.feed(chunk)
                finally:
                    response.close()
                if watchdog.finish():
                    return _Answer(status, collector.finish(), None)
                failure = _deadline_error(watchdog)
            except requests.RequestException as exc:
                watchdog.finish()
                failure = _deadline_error(watchdog) if watchdog.expired else None
                failure = failure or _transport_error(exc, config)
        body = collector.finish() if status is not None else None
        return _Answer(status, body, failure)


def _deadline_error(watchdog: Watchdog) -> TransportError:
    seconds = f"{round(watchdog.seconds, 1):g}"
    if not watchdog.sending_started:
        return TransportError(
            "not_sent", f"not sent: no connection within the {seconds} s deadline"
        )
    return TransportError(
        "unknown", f"no complete answer within {seconds} s; VICIdial may have acted"
    )


def _echoes_of_user_data(params: Fields) -> list[str]:
    """The user's values as VICIdial may echo them: each whole, each login, HTML-escaped."""
    values = [value for name, value in params if name in USER_DATA_FIELDS]
    logins = [value.split(",") for name, value in params if name == "phone_logins"]
    values += [login for split in logins for login in split]
    return [form for value in values for form in (value, html.escape(value))]


def _session_without_retries() -> requests.Session:
    session = requests.Session()
    no_retries = Retry(total=0, read=False, redirect=False, raise_on_status=False)
    session.mount("http://", WatchedAdapter(max_retries=no_retries))
    session.mount("https://", WatchedAdapter(max_retries=no_retries))
    return session


def _public_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _transport_error(exc: requests.RequestException, config: VicidialConfig) -> TransportError:
    chain = list(_exception_chain(exc))

    def caused_by(*types: type[BaseException]) -> bool:
        return any(isinstance(error, types) for error in chain)

    if caused_by(requests.ReadTimeout, ReadTimeoutError):
        return TransportError("unknown", f"read timeout after {config.read_timeout} s")
    if caused_by(requests.ConnectTimeout):
        return TransportError("not_sent", f"connect timeout after {config.connect_timeout} s")
    if caused_by(NameResolutionError):
        return TransportError("not_sent", "DNS lookup failed for the VICIdial host")
    if caused_by(NewConnectionError):
        refused = caused_by(ConnectionRefusedError)
        return TransportError("not_sent", "connection refused" if refused else "could not connect")
    if caused_by(ssl.SSLCertVerificationError):
        return TransportError("not_sent", "TLS certificate verification failed")
    if isinstance(exc, MissingSchema | InvalidSchema | InvalidURL):
        return TransportError("not_sent", "invalid VICIdial URL")
    if isinstance(exc, ChunkedEncodingError):
        return TransportError("unknown", "response cut off while reading the body")
    if caused_by(http.client.RemoteDisconnected):
        return TransportError("unknown", "connection closed without an answer")
    if caused_by(ConnectionResetError):
        return TransportError("unknown", "connection reset after the request was sent")
    return TransportError("unknown", f"{type(exc).__name__} after the request may have been sent")


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    # requests wraps urllib3 errors in args, MaxRetryError keeps its cause in .reason.
    pending, seen = [exc], set()
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        linked = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))
