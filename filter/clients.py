"""Which group a client address belongs to, and which overrides apply to it.

Order: a static address rule, then the identity of the person logged in on
that address through the captive portal (role, level and class, from the
``network_clients`` table the portal fills), then the network the address is
in, then the ``unknown`` group. MAC addresses are deliberately not used as
identities (CARMO #5.17: they are spoofed and randomised).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Pupils' level to the group of their school stage.
LEVEL_GROUPS: Final[Mapping[str, str]] = {
    **dict.fromkeys(("PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2"), "ecole"),
    **dict.fromkeys(("6EME", "5EME", "4EME", "3EME"), "college"),
    **dict.fromkeys(("2NDE", "1ERE", "TERM", "CAP", "BTS"), "lycee"),
}
ROLE_GROUPS: Final[Mapping[str, str]] = {
    "teacher": "teachers",
    "staff": "staff",
    "referent": "staff",
}
UNKNOWN: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is logged in on an address (from the captive portal)."""

    person_id: str
    role: str
    class_name: str = ""
    level: str = ""


@dataclass(frozen=True, slots=True)
class Client:
    """A client address resolved to its group and (if known) class."""

    address: str
    group: str
    class_name: str = ""
    person_id: str = ""


def group_of_identity(identity: Identity, pupil_default: str) -> str:
    """Return the group of a logged-in person."""
    if identity.role == "pupil":
        return LEVEL_GROUPS.get(identity.level.upper(), pupil_default)
    return ROLE_GROUPS.get(identity.role, UNKNOWN)


class ClientMap:
    """Resolve addresses to groups; rebuilt whenever its inputs change."""

    def __init__(
        self,
        networks: Iterable[tuple[IPNetwork, str]],
        static: Mapping[str, str],
        identities: Mapping[str, Identity],
        *,
        pupil_default: str = "college",
    ) -> None:
        """Take the network rules, static addresses and portal identities."""
        # Most specific network first.
        self._networks = sorted(networks, key=lambda item: item[0].prefixlen, reverse=True)
        self._static = {str(ipaddress.ip_address(a)): g for a, g in static.items()}
        self._identities = dict(identities)
        self._pupil_default = pupil_default
        self._memo: dict[str, Client] = {}

    def resolve(self, address: str) -> Client:
        """Return the client's group and class."""
        known = self._memo.get(address)
        if known is not None:
            return known
        client = self._resolve(address)
        if len(self._memo) > 65_536:
            self._memo.clear()
        self._memo[address] = client
        return client

    def _resolve(self, address: str) -> Client:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return Client(address, UNKNOWN)
        canonical = str(ip)
        if canonical in self._static:
            return Client(address, self._static[canonical])
        identity = self._identities.get(canonical)
        if identity is not None:
            return Client(
                address,
                group_of_identity(identity, self._pupil_default),
                identity.class_name,
                identity.person_id,
            )
        for network, group in self._networks:
            if ip.version == network.version and ip in network:
                return Client(address, group)
        return Client(address, UNKNOWN)
