"""HttpxOutboundHttp: the OutboundHttp port over one pooled httpx client (HTTP/1.1 and HTTP/2).

Connections go only to the addresses the SSRF guard vetted. Rather than rewriting the URL
to an IP (which would make the pool share a TLS connection between host names that share an
address), the URL keeps its host name, so Host, SNI and certificate checks stay standard,
and a custom network backend maps that name to the vetted addresses for the current
request. A connection attempt to a name with no vetted address is refused before any
socket is opened, whatever the HTTP client parsed out of the URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import MappingProxyType
from typing import Any

import httpcore
import httpx

from app.domain.errors import ProxyRefused, ProxyTimeout
from app.domain.proxy.errors import ProxyFailed, ProxyResponseTooLarge
from app.ports.outbound_http import OutboundRequest, OutboundResponse

# An immutable empty default: a shared mutable one would leak pins between contexts (B039).
_PINS: ContextVar[Mapping[str, tuple[str, ...]]] = ContextVar(
    "proxy_pins", default=MappingProxyType({})
)


def _host_key(host: str) -> str:
    return host.strip("[]").lower()


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to the addresses pinned for the host in this context."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = _PINS.get().get(_host_key(host))
        if not addresses:
            raise ProxyRefused(f"Connection to {host} refused: no vetted address for it")
        failure: Exception | None = None
        for address in addresses:  # the next address only if this one refuses the connection
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise ProxyRefused("Unix sockets are not reachable through the proxy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with the pool built over the pinning backend."""

    def __init__(
        self, *, http2: bool, limits: httpx.Limits, backend: httpcore.AsyncNetworkBackend
    ) -> None:
        super().__init__(http2=http2, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=backend,
        )


class HttpxOutboundHttp:
    """One shared ``httpx.AsyncClient``: pooled, HTTP/2 where offered, no redirects, no
    environment proxies, and a cookie jar that stores nothing (users must not share cookies)."""

    def __init__(
        self,
        *,
        http2: bool = True,
        limits: httpx.Limits | None = None,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        pinned = PinnedNetworkBackend(backend)
        self._client = httpx.AsyncClient(
            transport=_PinnedTransport(http2=http2, limits=limits, backend=pinned),
            follow_redirects=False,
            trust_env=False,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )

    async def send(self, request: OutboundRequest) -> OutboundResponse:
        url = httpx.URL(request.url)
        token = _PINS.set({_host_key(url.raw_host.decode("ascii")): request.connect_to})
        try:
            async with asyncio.timeout(request.timeout_seconds):
                return await self._exchange(url, request)
        except (TimeoutError, httpx.TimeoutException):
            raise ProxyTimeout(f"Request timed out after {request.timeout_seconds:.3f}s") from None
        except httpx.HTTPError as exc:
            raise ProxyFailed(_describe(exc), error_type="ProxyFailed") from None
        except httpx.InvalidURL as exc:
            raise ProxyRefused(f"URL rejected by the HTTP client: {exc}") from None
        finally:
            _PINS.reset(token)

    async def _exchange(self, url: httpx.URL, request: OutboundRequest) -> OutboundResponse:
        cap = request.max_body_bytes
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in request.headers
        ]
        async with self._client.stream(
            request.method,
            url,
            headers=headers,
            content=request.body,
            timeout=httpx.Timeout(request.timeout_seconds),
        ) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise _too_large(cap)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise _too_large(cap)  # leaving the block closes the unread connection
                chunks.append(chunk)
            return OutboundResponse(
                status=response.status_code,
                reason=response.reason_phrase,
                headers=tuple(response.headers.multi_items()),
                body=b"".join(chunks),
                charset=response.charset_encoding,
            )

    async def aclose(self) -> None:
        await self._client.aclose()


def _too_large(cap: int) -> ProxyResponseTooLarge:
    return ProxyResponseTooLarge(f"Response body exceeds the proxy limit of {cap} bytes")


def _describe(exc: httpx.HTTPError) -> str:
    kinds: dict[type[httpx.HTTPError], str] = {
        httpx.ConnectError: "Connection failed",
        httpx.RemoteProtocolError: "Upstream broke the HTTP protocol",
        httpx.DecodingError: "Could not decode the upstream body",
    }
    kind = kinds.get(type(exc), "Upstream request failed")
    text = str(exc)
    return f"{kind}: {text}" if text else f"{kind} ({type(exc).__name__})"
