"""Which servers the portal can read VICIdial's own database of, and how to reach one.

Adoption, drift and changes made "from VICIdial" all start here, so a server without a
database URL is refused with the same message wherever it is asked for.
"""

from django.views.decorators.debug import sensitive_variables

from ..errors import NoVicidialDatabase
from ..vicidial.servers import (
    UnknownServer,
    raw_server_settings,
    server_label,
    server_names,
    setting_name,
)
from ..vicidial_db import VicidialDatabase


def servers_with_database() -> list[str]:
    return [name for name in server_names() if raw_server_settings(name)["DB_URL"]]


@sensitive_variables()
def server_database(server: str) -> VicidialDatabase:
    """The server's read-only database; NoVicidialDatabase when none is configured, or when
    the server itself is no longer configured (its requests and aliases outlive it)."""
    try:
        db_url = raw_server_settings(server)["DB_URL"]
    except UnknownServer:
        raise NoVicidialDatabase(
            f"VICIdial server {server!r} is no longer configured, so the portal cannot read "
            "its database. Add it back to VICIDIAL_SERVERS to check it, or record the outcome "
            "by hand."
        ) from None
    if not db_url:
        raise NoVicidialDatabase(
            f"VICIdial server {server_label(server)} has no database URL, so the portal cannot "
            f"read what it holds. Set {setting_name(server, 'DB_URL')} to a read-only account "
            "(SELECT on phones and phones_alias)."
        )
    return VicidialDatabase.from_url(db_url)
