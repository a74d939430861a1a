"""One simulated VICIdial per configured server whose API URL is on this machine: what
`manage.py rundemo` starts next to the portal."""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from aliases.vicidial.servers import VicidialServer, has_several_servers, vicidial_servers
from aliases.vicidial_db import VicidialDatabaseError

from .server import VicidialSimulator
from .state import API_PATH, SimulatorState, demo_phones, demo_state
from .store import StoreError

# The simulator rewrites the demo phones in the database it is given. A VICIdial box runs its
# own MariaDB on loopback too, so only databases named like the demo's are ever written.
DEMO_DATABASE_PREFIX = "vicidial_demo"
# Aliases made by hand in VICIdial, which the portal does not know: something for adopt and
# drift to show. East's rings a login no phone has (a dead login). Any other server gets
# the first server's, as it gets its phones.
DEMO_ALIASES = {
    "default": (("helpdesk", "Help desk", "1001,1002"), ("night_line", "Night line", "bb100")),
    "east": (("east_sales", "East sales", "3001,cc100,3999"), ("east_front", "Front desk", "3002")),
}
# Where bin/dev_env.py looks for MariaDB when it writes the .env.
MARIADB = ("127.0.0.1", 3306)
FULL_DEMO = (
    "for the full demo, delete .env and run make run again: it writes one with two servers "
    "and, while MariaDB answers, a demo database for each."
)


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


def demo_aliases(server: str) -> tuple[tuple[str, str, str], ...]:
    return DEMO_ALIASES.get(server, DEMO_ALIASES["default"])


def _seed_aliases(
    state: SimulatorState, server: VicidialServer, log: Callable[[str], None]
) -> None:
    # Only into an empty store: a demo database keeps what was done in it across restarts.
    if len(state.aliases):
        return
    seeded = demo_aliases(server.name)
    for alias_id, alias_name, logins_list in seeded:
        state.add_alias(alias_id, alias_name, logins_list)
    names = ", ".join(alias_id for alias_id, _name, _logins in seeded)
    log(f"  {server.label}: {len(seeded)} aliases made by hand, unknown to the portal ({names}).")


def mariadb_answers(address: tuple[str, int] | None = None, timeout: float = 1.0) -> bool:
    """Whether a MySQL/MariaDB server greets on the address: bin/dev_env.py's own test (that
    script runs before the virtualenv exists, so it cannot import this package), so the
    advice to write a new .env holds for the .env it would write."""
    return _dev_env().mariadb_answers(address or MARIADB, timeout)


def _dev_env():
    path = Path(__file__).resolve().parents[2] / "bin" / "dev_env.py"
    spec = importlib.util.spec_from_file_location("dev_env", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def full_demo_hint(servers: list[VicidialServer]) -> str:
    """How to get the whole demo when the .env predates it ("" when nothing is missing)."""
    if not servers:
        return ""
    if not has_several_servers():
        return f"This .env has one VICIdial server (VICIDIAL_SERVERS is unset); {FULL_DEMO}"
    without = [server.label for server in servers if not server.db_url]
    if without and mariadb_answers():
        return (
            f"MariaDB answers on {MARIADB[0]}:{MARIADB[1]} but {' and '.join(without)} "
            f"{'has' if len(without) == 1 else 'have'} no database URL, so adopt and drift "
            f"cannot read {'it' if len(without) == 1 else 'them'}; {FULL_DEMO}"
        )
    return ""


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
        _seed_aliases(state, server, log)
    hint = full_demo_hint([server for server in vicidial_servers() if simulated(server)])
    if hint:
        log(hint)
    return started
