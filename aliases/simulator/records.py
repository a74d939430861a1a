"""The rows the simulated VICIdial stores, as VICIdial's `phones` and `phones_alias` hold them."""

from dataclasses import dataclass


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
