"""POST /api/proxy/request: the CORS proxy, behind the SSRF guard of the proxy service."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from app.domain.proxy import ProxyCall, ProxyService
from app.entrypoints.http.errors import route_error
from app.entrypoints.http.openapi import BODY_ERRORS, error_responses

ERROR_TEXT = "Proxy request failed"

_BODYLESS_STATUSES = frozenset({204, 205, 304})


class ProxyRequestBody(msgspec.Struct, kw_only=True):
    """What to send where. Only public http(s) targets are reachable (see the SSRF ADR)."""

    url: Annotated[
        str | None,
        msgspec.Meta(
            description="Absolute http(s) URL", examples=["https://api.binance.com/api/v3/time"]
        ),
    ] = None
    method: Annotated[str, msgspec.Meta(examples=["GET", "POST"])] = "GET"
    headers: Annotated[
        dict[str, str],
        msgspec.Meta(
            description="Sent upstream, minus hop-by-hop headers, Host and Content-Length",
            examples=[{"Accept": "application/json"}],
        ),
    ] = msgspec.field(default_factory=dict)
    body: Annotated[
        Any,
        msgspec.Meta(
            description="A string is sent as is, anything else as JSON; ignored for GET/HEAD"
        ),
    ] = None
    timeout: Annotated[
        float,
        msgspec.Meta(
            description="Milliseconds for the whole exchange, clamped to the server's limits",
            examples=[30000],
        ),
    ] = 30_000


class ProxyResponseBody(msgspec.Struct, kw_only=True):
    """The upstream answer; our HTTP status mirrors ``status`` (200 when it cannot carry a body)."""

    success: Annotated[bool, msgspec.Meta(description="Upstream status is 2xx")]
    status: Annotated[int, msgspec.Meta(examples=[200])]
    statusText: Annotated[str, msgspec.Meta(examples=["OK"])]
    headers: dict[str, str]
    data: Annotated[
        Any, msgspec.Meta(description="Parsed JSON when the body is JSON, else its text")
    ]


PROXY_ERRORS = error_responses(
    *BODY_ERRORS,
    408,
    500,
    502,
    meaning={
        400: "URL missing, malformed body, or target refused by the SSRF guard (see `details`)",
        502: "Proxy request failed: the upstream does not resolve, refuses or resets the "
        "connection, breaks the protocol, redirects too often, or its body exceeds the limit",
    },
)


@post(
    "/api/proxy/request",
    status_code=200,
    tags=["proxy"],
    summary="Forward an HTTP request to a public API (CORS proxy)",
    description=(
        "Loopback, private, link-local, CGNAT, multicast and reserved targets are refused, "
        "also through redirects (each hop is checked). The upstream status is mirrored."
    ),
    responses=PROXY_ERRORS,
    opt=route_error(ERROR_TEXT),
)
async def proxy_request(
    data: JSONBody[ProxyRequestBody], proxy_service: NamedDependency[ProxyService]
) -> Response[ProxyResponseBody]:
    call = ProxyCall(
        url=data.url or "",
        method=data.method,
        headers=data.headers,
        body=data.body,
        timeout_ms=data.timeout,
    )
    result = await proxy_service.forward(call)
    body = ProxyResponseBody(
        success=result.success,
        status=result.status,
        statusText=result.status_text,
        headers=result.headers,
        data=result.data,
    )
    return Response(body, status_code=mirrored_status(result.status))


def mirrored_status(upstream: int) -> int:
    """Our status for an upstream status: the same, unless that status forbids a body."""
    if 200 <= upstream <= 599 and upstream not in _BODYLESS_STATUSES:
        return upstream
    return 200
