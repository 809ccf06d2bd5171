"""Which addresses a fetch may connect to: public ones, and the hosts and networks of FETCH_ALLOW_HOSTS.

A URL given to the ingest command or found in a feed is written by a stranger; without this check it
could make Newsdesk fetch (and store as an article) a page of the machine itself or of the local
network: `http://127.0.0.1:8080/admin`, a router at 192.168.1.1, a cloud metadata service at
169.254.169.254. Every address a host name resolves to is checked, on every redirect.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_kind(address: Address) -> str | None:
    """Why `address` is not a public unicast address ("a loopback address", ...); None when it is one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_kind(address.ipv4_mapped)
    checks = [("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
              ("link-local", address.is_link_local), ("multicast", address.is_multicast),
              ("private", address.is_private), ("reserved", address.is_reserved)]
    for kind, applies in checks:
        if applies:
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    if not address.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), documentation ranges
        return "not a public address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses are allowed; others only for a listed host name, address or network."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AddressPolicy:
        """From entries such as `intranet.example`, `127.0.0.1`, `10.0.0.0/8`, `::1`; ValueError names a bad one."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (entry.strip() for entry in entries):
            if not entry:
                continue
            try:
                network = ipaddress.ip_network(entry.strip("[]"), strict=False)
            except ValueError:
                pass
            else:
                mapped = network.network_address.ipv4_mapped if network.version == 6 else None
                if mapped is not None and network.prefixlen >= 96:  # ::ffff:10.0.0.0/104 is 10.0.0.0/8
                    network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
                networks.append(network)
                continue
            name = entry.lower().rstrip(".")
            if "/" in entry or not name or any(part == "" for part in name.split(".")) or any(
                    not (character.isalnum() or character in "-._") for character in name):
                raise ValueError(f"{entry!r} is neither a host name, an IP address nor a network such as 10.0.0.0/8")
            hosts.add(name)
        return cls(frozenset(hosts), tuple(networks))

    def refusal(self, host: str, address: str) -> str | None:
        """None when `host` (as written in the URL), resolved to `address`, may be fetched; else why not."""
        if host.lower().rstrip(".").strip("[]") in self.hosts:
            return None
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 scope ("%eth0")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        kind = address_kind(ip)
        if kind is None or any(ip in network for network in self.networks if network.version == ip.version):
            return None
        shown = address if host.strip("[]") == address else f"{host} resolves to {address}, which"
        return f"refused: {shown} is {kind} (allow it with FETCH_ALLOW_HOSTS)"
