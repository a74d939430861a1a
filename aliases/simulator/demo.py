"""One simulated VICIdial per configured server whose API URL is on this machine: what
`manage.py rundemo` starts next to the portal."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from aliases.vicidial.servers import VicidialServer, vicidial_servers
from aliases.vicidial_db import VicidialDatabaseError

from .server import VicidialSimulator
from .state import API_PATH, SimulatorState, demo_phones, demo_state
from .store import StoreError

# The simulator rewrites the demo phones in the database it is given. A VICIdial box runs its
# own MariaDB on loopback too, so only databases named like the demo's are ever written.
DEMO_DATABASE_PREFIX = "vicidial_demo"


def on_loopback(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _demo_database(url: str) -> bool:
    database = unquote(urlsplit(url).path.lstrip("/"))
    return on_loopback(url) and database.startswith(DEMO_DATABASE_PREFIX)


def _state_for(server: VicidialServer, log: Callable[[str], None]) -> SimulatorState:
    config, db_url = server.config, server.db_url
    kept = dict(user=config.user, password=config.password, phones=demo_phones(server.name))
    if db_url and not _demo_database(db_url):
        log(
            f"  {server.label}: its database is not a demo one on this machine "
            f"(loopback, named {DEMO_DATABASE_PREFIX}*); the simulator keeps its state in memory."
        )
    elif db_url:
        try:
            return demo_state(**kept, db_url=db_url)
        except (StoreError, VicidialDatabaseError) as error:
            log(f"  {server.label}: {error}; the simulator keeps its state in memory instead.")
    return demo_state(**kept)


def simulated(server: VicidialServer) -> bool:
    """Whether the demo simulates this server: its API URL is a simulator's on this machine."""
    parts = urlsplit(server.config.url)
    return on_loopback(server.config.url) and parts.scheme == "http" and parts.path == API_PATH


def start_demo_simulators(log: Callable[[str], None]) -> list[VicidialSimulator]:
    """Start the simulators; on failure stop those already started and raise OSError."""
    started: list[VicidialSimulator] = []
    for server in vicidial_servers():
        url = server.config.url
        if not simulated(server):
            log(f"Not simulating {server.label} ({server.name}): {url} is not a local simulator.")
            continue
        parts = urlsplit(url)
        state = _state_for(server, log)
        try:
            simulator = VicidialSimulator(state).start(host=parts.hostname, port=parts.port or 80)
        except OSError as error:
            state.close()
            for running in started:
                running.stop()
                running.state.close()
            raise OSError(f"Cannot serve {server.label} on {url}: {error.strerror}") from None
        started.append(simulator)
        log(
            f"VICIdial simulator for {server.label} ({server.name}) on {simulator.url}: "
            f"API user {server.config.user}, {len(state.phones)} phones, kept in {state.store}"
        )
    return started
