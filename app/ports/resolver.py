"""Resolver: host name to IP addresses, so the proxy can vet every address before connecting."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Resolver(Protocol):
    """Looks up the addresses a host name stands for."""

    async def resolve(self, host: str) -> list[str]:
        """Every address of ``host`` (A and AAAA records), in the order to try them.

        Args:
            host: a DNS name in ASCII (IDNA) form, never an IP literal.

        Returns:
            IP addresses as strings, without duplicates; IPv6 ones may carry a ``%zone``.

        Raises:
            app.domain.proxy.errors.ProxyFailed: the name does not resolve.
        """
        ...
