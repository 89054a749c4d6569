"""What the operator allows the CORS proxy to do: exempt hosts and ranges, limits, methods."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


def normalise_hostname(host: str) -> str | None:
    """Lower-case ASCII (IDNA) form of a DNS name without the trailing dot; None if invalid."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return host if len(host) <= 253 and _HOSTNAME.match(host) else None


@dataclass(frozen=True, slots=True)
class AllowList:
    """Hosts and address ranges the operator exempts from the private-address block.

    A host name exempts whatever that name resolves to; an address or CIDR exempts the
    addresses inside it, whichever name led there.
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Build from config entries ("10.20.0.0/16", "127.0.0.1", "::1", "gateway.internal").

        Raises:
            ValueError: an entry is neither an address, a CIDR range nor a valid host name.
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if entry.startswith("[") and entry.endswith("]"):
                entry = entry[1:-1]
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host = normalise_hostname(entry)
            if host is None:
                raise ValueError(f"proxy.allow: {raw!r} is not a host name, address or CIDR range")
            hosts.add(host)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.networks
        )


@dataclass(frozen=True, slots=True)
class ProxyPolicy:
    """Limits of the CORS proxy, built from ``[proxy]`` in the server config."""

    enabled: bool = True
    allow: AllowList = field(default_factory=AllowList)
    max_response_bytes: int = 10 * 1024 * 1024
    min_timeout_ms: float = 100
    max_timeout_ms: float = 120_000
    max_redirects: int = 5
    allowed_methods: frozenset[str] = frozenset(DEFAULT_METHODS)

    @classmethod
    def build(
        cls,
        *,
        enabled: bool = True,
        allow: Iterable[str] = (),
        max_response_bytes: int = 10 * 1024 * 1024,
        min_timeout_ms: float = 100,
        max_timeout_ms: float = 120_000,
        max_redirects: int = 5,
        allowed_methods: Iterable[str] = DEFAULT_METHODS,
    ) -> ProxyPolicy:
        """Validate raw config values; the keywords match the fields of ``ProxySettings``.

        Raises:
            ValueError: a limit is out of range or an allow entry cannot be parsed.
        """
        if max_response_bytes <= 0:
            raise ValueError("proxy.max_response_bytes must be positive")
        if not 0 < min_timeout_ms <= max_timeout_ms:
            raise ValueError("proxy timeouts need 0 < min_timeout_ms <= max_timeout_ms")
        if max_redirects < 0:
            raise ValueError("proxy.max_redirects must not be negative")
        return cls(
            enabled=enabled,
            allow=AllowList.parse(allow),
            max_response_bytes=max_response_bytes,
            min_timeout_ms=min_timeout_ms,
            max_timeout_ms=max_timeout_ms,
            max_redirects=max_redirects,
            allowed_methods=frozenset(method.upper() for method in allowed_methods),
        )

    @classmethod
    def from_settings(cls, proxy: Any) -> ProxyPolicy:
        """Build from an object with the fields of ``ProxySettings`` (duck-typed: the domain
        does not import the settings module)."""
        return cls.build(
            enabled=proxy.enabled,
            allow=proxy.allow,
            max_response_bytes=proxy.max_response_bytes,
            min_timeout_ms=proxy.min_timeout_ms,
            max_timeout_ms=proxy.max_timeout_ms,
            max_redirects=proxy.max_redirects,
            allowed_methods=proxy.allowed_methods,
        )

    def clamp_timeout_ms(self, requested: float) -> float:
        return min(max(requested, self.min_timeout_ms), self.max_timeout_ms)
