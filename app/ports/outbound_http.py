"""OutboundHttp: one HTTP exchange with an upstream that the proxy has already vetted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One request, sent as is: redirects are the caller's business."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    connect_to: tuple[str, ...]
    """Vetted IP addresses of the URL's host; the only places a connection may go."""
    timeout_seconds: float
    max_body_bytes: int


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    """The upstream answer, body decoded from its content-encoding and fully read."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    charset: str | None = None


@runtime_checkable
class OutboundHttp(Protocol):
    """An HTTP client that connects only to the addresses it is given."""

    async def send(self, request: OutboundRequest) -> OutboundResponse:
        """Perform one exchange without following redirects.

        The connection goes to one of ``request.connect_to`` (never to a fresh DNS answer);
        the Host header and TLS server name stay those of ``request.url``.

        Raises:
            app.domain.errors.ProxyTimeout: the exchange overran ``timeout_seconds``.
            app.domain.proxy.errors.ProxyResponseTooLarge: the body passed ``max_body_bytes``;
                reading stopped there and the connection was closed.
            app.domain.proxy.errors.ProxyFailed: connection or protocol failure.
        """
        ...

    async def aclose(self) -> None:
        """Close pooled connections (shutdown)."""
        ...
