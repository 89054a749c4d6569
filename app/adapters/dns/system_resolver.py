"""SystemResolver: the Resolver port over the operating system's getaddrinfo."""

from __future__ import annotations

import asyncio
import socket

from app.domain.proxy.errors import ProxyFailed


class SystemResolver:
    """A and AAAA lookups through ``loop.getaddrinfo`` (honours /etc/hosts, like curl does)."""

    async def resolve(self, host: str) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ProxyFailed(f"Could not resolve host {host}: {exc}") from None
        # getaddrinfo already orders the answers by RFC 6724 preference; keep that order.
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
