"""CORS only where it applies: Litestar's CORS middleware, skipped without an Origin header.

Litestar's ``CORSMiddleware`` parses every request's headers into a ``Headers`` object to
look for ``Origin`` (~3.5 us per request, bench.rest --overhead, ADR 0121) and does nothing
when there is none. This wrapper looks for the header name in the raw ASGI list and hands
the request to the same middleware object only when it is there, so CORS answers (preflight,
``Access-Control-*`` headers, refusals) are Litestar's own, unchanged.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.middleware._internal.cors import CORSMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

_ORIGIN = b"origin"


class CorsWhenOrigin:
    """ASGI: ``cors`` for a request with an ``Origin`` header, ``cors.app`` (what CORS wraps)
    for any other."""

    def __init__(self, cors: CORSMiddleware) -> None:
        self._cors = cors
        self._inner: ASGIApp = cors.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, _ in scope["headers"]:
            if name == _ORIGIN:
                await self._cors(scope, receive, send)
                return
        await self._inner(scope, receive, send)


def skip_cors_without_origin(app: Litestar) -> None:
    """Put ``CorsWhenOrigin`` in front of the app's CORS middleware (``app.asgi_handler``,
    the layer ``Litestar.__call__`` enters; Litestar makes it the CORS middleware whenever
    ``cors_config`` is set). Anything else there is left alone."""
    if isinstance(app.asgi_handler, CORSMiddleware):
        app.asgi_handler = CorsWhenOrigin(app.asgi_handler)
