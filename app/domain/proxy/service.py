"""ProxyService: forwards one browser request through the SSRF guard, hop by hop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urljoin

import structlog

from app.domain.errors import BadInput, ProxyRefused, ProxyTimeout
from app.domain.proxy.errors import ProxyFailed
from app.domain.proxy.guard import SsrfGuard, Target, log_url_of, parse_target
from app.domain.proxy.headers import CREDENTIAL_HEADERS, encode_body, forwardable_headers, without
from app.domain.proxy.policy import ProxyPolicy
from app.domain.proxy.result import ProxyResult
from app.ports.outbound_http import OutboundHttp, OutboundRequest, OutboundResponse
from app.ports.resolver import Resolver

URL_REQUIRED = "URL is required"

logger = structlog.get_logger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class ProxyCall:
    """What the browser asked the proxy to do."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    """None: no body; str: sent as is; anything else: sent as JSON."""
    timeout_ms: float = 30_000


class ProxyService:
    """Refuses internal targets, follows redirects through the same guard, caps time and size."""

    def __init__(self, http: OutboundHttp, resolver: Resolver, policy: ProxyPolicy) -> None:
        self._http = http
        self._policy = policy
        self._guard = SsrfGuard(policy, resolver)

    @property
    def policy(self) -> ProxyPolicy:
        return self._policy

    async def forward(self, call: ProxyCall) -> ProxyResult:
        """Perform the call; the timeout covers DNS, every hop and reading every body.

        Raises:
            BadInput: the URL is missing.
            ProxyRefused: the guard refused the URL, a redirect target, a method or a header.
            ProxyTimeout: the whole exchange took longer than the (clamped) timeout.
            ProxyFailed: DNS, connection or protocol failure, too many redirects, body too big.
        """
        if not self._policy.enabled:
            raise ProxyRefused("The CORS proxy is disabled on this server")
        if not call.url:
            # The contract's own fixed `error` text, not the endpoint's.
            raise BadInput(URL_REQUIRED, headline=URL_REQUIRED)
        timeout_ms = self._policy.clamp_timeout_ms(call.timeout_ms)
        log = logger.bind(target=log_url_of(call.url))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            method = self._guard.check_method(call.method)
            headers, body = self._prepare(method, call)
            async with asyncio.timeout(timeout_ms / 1000):
                deadline = started + timeout_ms / 1000
                response, hops = await self._follow(call.url, method, headers, body, deadline)
        except (TimeoutError, ProxyTimeout):
            log.warning("proxy.timeout", timeout_ms=timeout_ms)
            raise ProxyTimeout(f"Request timed out after {_ms(timeout_ms)}ms") from None
        except ProxyRefused as exc:
            log.warning("proxy.refused", reason=exc.details)
            raise
        except ProxyFailed as exc:
            log.warning("proxy.failed", error_type=exc.error_type)
            raise
        log.info(
            "proxy.forwarded",
            method=method,
            status=response.status,
            bytes=len(response.body),
            redirects=hops,
            elapsed_ms=round((loop.time() - started) * 1000, 1),
        )
        return ProxyResult.from_response(response)

    def _prepare(self, method: str, call: ProxyCall) -> tuple[list[tuple[str, str]], bytes | None]:
        headers = forwardable_headers(call.headers)
        body, headers = encode_body(method, call.body, headers)
        return headers, body

    async def _follow(
        self,
        url: str,
        method: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        deadline: float,
    ) -> tuple[OutboundResponse, int]:
        loop = asyncio.get_running_loop()
        limit = self._policy.max_redirects
        for hop in range(limit + 1):
            vetted = await self._guard.vet(url)
            response = await self._http.send(
                OutboundRequest(
                    method=method,
                    url=vetted.target.url,
                    headers=tuple(headers),
                    body=body,
                    connect_to=vetted.addresses,
                    timeout_seconds=max(deadline - loop.time(), 0.001),
                    max_body_bytes=self._policy.max_response_bytes,
                )
            )
            location = _location(response)
            if location is None or limit == 0:
                return response, hop
            if hop == limit:
                break
            next_url = urldefrag(urljoin(vetted.target.url, location)).url
            next_target = parse_target(next_url)
            logger.debug(
                "proxy.redirect",
                status=response.status,
                source=vetted.target.log_url,
                to=next_target.log_url,
            )
            method, headers, body = _redirected(response.status, method, headers, body)
            if not _same_origin(vetted.target, next_target):
                headers = without(headers, CREDENTIAL_HEADERS)
            url = next_url
        raise ProxyFailed(f"Too many redirects (more than {limit})")


def _location(response: OutboundResponse) -> str | None:
    if response.status not in _REDIRECTS:
        return None
    for name, value in response.headers:
        if name.lower() == "location" and value.strip():
            return value.strip()
    return None


def _redirected(
    status: int, method: str, headers: list[tuple[str, str]], body: bytes | None
) -> tuple[str, list[tuple[str, str]], bytes | None]:
    """Method and body for the next hop, as browsers do: 307/308 keep them, others turn to GET."""
    if status in (307, 308) or method == "HEAD" or (status in (301, 302) and method == "GET"):
        return method, headers, body
    return "GET", without(headers, frozenset({"content-type"})), None


def _same_origin(a: Target, b: Target) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _ms(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
