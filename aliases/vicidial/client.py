"""The one module that talks HTTP to VICIdial's non_agent_api.php."""

from __future__ import annotations

import http.client
import re
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError, InvalidSchema, InvalidURL, MissingSchema
from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from .protocol import (
    CallResult,
    ParsedResponse,
    TransportError,
    _unrecognised,
    classify,
    parse_response,
)
from .redaction import _mask_for, _secret_variants, redact

Fields = list[tuple[str, str]]


@dataclass(frozen=True)
class VicidialConfig:
    url: str
    user: str
    password: str = field(repr=False)
    source_tag: str
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    method: str = "POST"

    def __post_init__(self) -> None:
        if self.method not in ("GET", "POST"):
            raise ValueError(f"VICIdial HTTP method must be GET or POST, not {self.method!r}")

    @classmethod
    @sensitive_variables()
    def from_settings(cls) -> VicidialConfig:
        url = getattr(settings, "VICIDIAL_API_URL", "")
        if not url:
            raise ImproperlyConfigured("VICIDIAL_API_URL is not set")
        return cls(
            url=url,
            user=getattr(settings, "VICIDIAL_API_USER", ""),
            password=getattr(settings, "VICIDIAL_API_PASS", ""),
            source_tag=getattr(settings, "VICIDIAL_API_SOURCE", "portal"),
            connect_timeout=float(getattr(settings, "VICIDIAL_CONNECT_TIMEOUT", 3.0)),
            read_timeout=float(getattr(settings, "VICIDIAL_TIMEOUT", 10.0)),
            method=str(getattr(settings, "VICIDIAL_HTTP_METHOD", "POST")).upper(),
        )


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


class VicidialClient:
    """Makes exactly one HTTP request per call and never raises for network or server trouble.

    Retrying is left to the caller: only it knows whether an alias may already exist.
    An injected session is used as given (a plain requests.Session does not retry either).
    """

    def __init__(
        self, config: VicidialConfig | None = None, *, session: requests.Session | None = None
    ) -> None:
        self.config = config or VicidialConfig.from_settings()
        self.session = session or _session_without_retries()

    def add_phone_alias(
        self, *, alias_id: str, alias_name: str, phone_logins: Sequence[str], reference: str
    ) -> CallReply:
        params = [
            ("alias_id", alias_id),
            ("alias_name", alias_name),
            ("phone_logins", ",".join(phone_logins)),
        ]
        return self._call("add_phone_alias", params, reference=reference)

    def update_phone_alias(
        self,
        *,
        alias_id: str,
        alias_name: str | None = None,
        phone_logins: Sequence[str] | None = None,
        delete: bool = False,
        reference: str,
    ) -> CallReply:
        params = [("alias_id", alias_id)]
        if alias_name is not None:
            params.append(("alias_name", alias_name))
        if phone_logins is not None:
            params.append(("phone_logins", ",".join(phone_logins)))
        if delete:
            params.append(("delete_alias", "Y"))
        return self._call("update_phone_alias", params, reference=reference)

    def version(self) -> CallReply:
        # version needs no credentials, so none are sent.
        return self._call("version", [], reference="", login=False)

    @sensitive_variables()
    def _call(
        self, function: str, params: Fields, *, reference: str, login: bool = True
    ) -> CallReply:
        config = self.config
        source = _source(config.source_tag, reference)
        credentials = [("user", config.user), ("pass", config.password)]
        # VICIdial logs the last POST field unescaped and answers HTTP 500 when it holds a
        # quote or ends in a backslash, so the strictly alphanumeric source goes last.
        fields = [("function", function), *(credentials if login else []), *params]
        fields.append(("source", source))
        started = time.monotonic()
        status, body, failure = self._send(fields)
        duration_ms = int((time.monotonic() - started) * 1000)

        secret = config.password
        body = redact(body, secret)
        if failure is None:
            parsed = parse_response(body)
        else:
            failure = TransportError(failure.kind, redact(failure.message, secret))
            parsed = _unrecognised(failure.message)
        mask = _mask_for(_secret_variants(secret))
        return CallReply(
            function=function,
            method=config.method,
            url=redact(_public_url(config.url), secret),
            sent_params=tuple(
                (name, mask if name == "pass" else redact(value, secret)) for name, value in fields
            ),
            http_status=status,
            body=body,
            parsed=parsed,
            result=classify(parsed=parsed, transport_error=failure),
            transport_error=failure.message if failure else "",
            duration_ms=duration_ms,
            source=source,
        )

    @sensitive_variables()
    def _send(self, fields: Fields) -> tuple[int | None, str, TransportError | None]:
        config = self.config
        as_form = config.method == "POST"
        try:
            response = self.session.request(
                config.method,
                config.url,
                data=fields if as_form else None,
                params=None if as_form else fields,
                timeout=(config.connect_timeout, config.read_timeout),
                allow_redirects=False,
                # A fresh connection per call: a stale keep-alive connection would turn into
                # an ambiguous "connection aborted" although VICIdial never saw the request.
                headers={"Connection": "close"},
            )
            body = response.content.decode("utf-8", errors="replace")
            # PostgreSQL text cannot hold NUL; everything else is kept word for word.
            return response.status_code, body.replace("\x00", "\ufffd"), None
        except requests.RequestException as exc:
            return None, "", _transport_error(exc, config)


def _session_without_retries() -> requests.Session:
    session = requests.Session()
    no_retries = Retry(total=0, read=False, redirect=False, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=no_retries))
    session.mount("https://", HTTPAdapter(max_retries=no_retries))
    return session


def _source(source_tag: str, reference: str) -> str:
    # VICIdial's source column is 20 wide and keeps only [A-Za-z0-9].
    return re.sub(r"[^A-Za-z0-9]", "", source_tag + reference)[:20]


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
