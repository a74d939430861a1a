#!/usr/bin/env python3
"""Write a development .env for `make run`: DEBUG on, random secrets, and two simulated VICIdial
servers, `default` ("Main cluster", :8089) and `east` ("East cluster", :8090), each with its
own API password. Where MariaDB answers on 127.0.0.1:3306 right now, each server also gets a
demo database (root, empty password: a demo on this machine only) that its simulator keeps
VICIdial's tables in and the portal reads, as it reads a real VICIdial's.

Standard library only: it runs with the system python3, before the virtualenv exists.
Usage: python3 bin/dev_env.py .env   (refuses to overwrite an existing file)
"""

import os
import secrets
import socket
import sys
from pathlib import Path

MARIADB = ("127.0.0.1", 3306)
MYSQL_PROTOCOL_VERSION = 10  # the first byte of the server's greeting packet
API_PATH = "/vicidial/non_agent_api.php"


def mariadb_answers(address: tuple[str, int] = MARIADB, timeout: float = 1.0) -> bool:
    """Whether a MySQL/MariaDB server greets on the address (and would let us in to try)."""
    try:
        with socket.create_connection(address, timeout=timeout) as connection:
            header = b""
            while len(header) < 5:
                piece = connection.recv(5 - len(header))
                if not piece:
                    return False
                header += piece
    except OSError:
        return False
    # 3 bytes length, 1 byte sequence, then 10 for a greeting (0xff for "host not allowed").
    return header[4] == MYSQL_PROTOCOL_VERSION


def dev_env(*, with_databases: bool) -> str:
    lines = [
        "DEBUG=true",
        f"SECRET_KEY={secrets.token_urlsafe(50)}",
        # token_urlsafe keeps to A-Za-z0-9-_, which VICIdial does not filter out of passwords.
        f"VICIDIAL_API_PASS={secrets.token_urlsafe(18)}",
        "VICIDIAL_SERVER_LABEL=Main cluster",
        "VICIDIAL_SERVERS=east",
        f"VICIDIAL_EAST_API_URL=http://127.0.0.1:8090{API_PATH}",
        f"VICIDIAL_EAST_API_PASS={secrets.token_urlsafe(18)}",
        "VICIDIAL_EAST_LABEL=East cluster",
    ]
    if with_databases:
        lines += [
            "VICIDIAL_DB_URL=mysql://root@127.0.0.1:3306/vicidial_demo_default",
            "VICIDIAL_EAST_DB_URL=mysql://root@127.0.0.1:3306/vicidial_demo_east",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} PATH", file=sys.stderr)
        return 2
    path = Path(argv[1])
    if path.exists():
        print(f"{path} exists; remove it first to get a new one.", file=sys.stderr)
        return 1
    with_databases = mariadb_answers()
    # Secrets inside: readable by the owner only, and written whole or not at all.
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(dev_env(with_databases=with_databases))
    temporary.replace(path)
    databases = "with demo databases in MariaDB" if with_databases else "without MariaDB"
    print(f"Wrote {path}: two simulated VICIdial servers (:8089, :8090), {databases}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
