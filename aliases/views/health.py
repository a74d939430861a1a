"""Health checks for load balancers, Docker's HEALTHCHECK and monitoring. Both need no login
and answer ahead of every other middleware (aliases.middleware.HealthzMiddleware).

/healthz/live: liveness, this instance and its database. Docker's HEALTHCHECK asks it, so a
VICIdial outage (pages still work; calls wait in the queue) restarts no container.
/healthz: readiness, the database and every VICIdial server's answer to `version`.

Anyone may ask, so each part says only whether it answered and, if not, a short class of
what went wrong: no credentials, no hosts, and no VICIdial version (it would tell an
attacker which known flaws apply).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from ..vicidial import CallReply, CallResult, VicidialClient
from ..vicidial.servers import server_names, vicidial_server

CACHE_KEY = "healthz:vicidial:{}"


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    database = database_health()
    vicidial = vicidial_health()
    failing = [] if database["ok"] else ["database"]
    failing += [f"vicidial:{name}" for name, part in vicidial.items() if not part["ok"]]
    return _answer(failing, database=database, vicidial=vicidial)


@require_safe
def healthz_live(request: HttpRequest) -> JsonResponse:
    database = database_health()
    return _answer([] if database["ok"] else ["database"], database=database)


def _answer(failing: list[str], **parts: Any) -> JsonResponse:
    body = {"status": "fail" if failing else "ok", "failing": failing, **parts}
    response = JsonResponse(body, status=503 if failing else 200)
    # A cached "ok" in a proxy would hide an outage; each instance answers for itself.
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def database_health() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - whatever breaks, the probe must answer 503
        # The class name only: driver messages name hosts, ports and users.
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}


def vicidial_health() -> dict[str, dict[str, Any]]:
    """Each server's answer to `version`, asked at most once per HEALTHZ_CACHE_SECONDS."""
    names = server_names()
    keys = {name: CACHE_KEY.format(name) for name in names}
    cached = cache.get_many(keys.values())
    missing = [name for name in names if keys[name] not in cached]
    if missing:
        # In parallel: probes time out after a few seconds, and several servers may be down.
        with ThreadPoolExecutor(max_workers=len(missing)) as pool:
            fresh = dict(zip(missing, pool.map(ask_version, missing), strict=True))
        cache.set_many(
            {keys[name]: part for name, part in fresh.items()},
            timeout=settings.HEALTHZ_CACHE_SECONDS,
        )
        cached.update({keys[name]: part for name, part in fresh.items()})
    return {name: cached[keys[name]] for name in names}


def ask_version(name: str) -> dict[str, Any]:
    seconds = settings.HEALTHZ_VICIDIAL_TIMEOUT
    try:
        server = vicidial_server(name)
        config = dataclasses.replace(
            server.config,
            connect_timeout=min(server.config.connect_timeout, seconds / 2),
            read_timeout=min(server.config.read_timeout, seconds),
            total_deadline=seconds,
        )
    except ImproperlyConfigured:
        return {"ok": False, "error": "not configured"}
    reply = VicidialClient(config).version()  # version sends no credentials
    if reply.result is CallResult.SUCCEEDED and reply.parsed.function == "version":
        return {"ok": True}
    return {"ok": False, "error": failure_class(reply)}


def failure_class(reply: CallReply) -> str:
    """What went wrong, in a few fixed words: never VICIdial's own text, which may name its
    version, its host or (echoed back) what it was sent."""
    error = reply.transport_error
    # The client's deadline messages: "... timeout after 1 s", "... within the 2 s deadline".
    if "timeout" in error or " within " in error:
        return "timeout"
    if error == "connection refused":
        return "refused"
    if reply.http_status is not None and reply.http_status != 200:
        return f"HTTP {reply.http_status}"
    return str(reply.result.label)
