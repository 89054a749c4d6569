"""HEAD for every GET route (RFC 9110 9.3.2): uptime monitors probe with HEAD.

Litestar routes HEAD only to handlers that declare it, and a GET handler with a body cannot.
This wrapper sits outside the router: it hands a HEAD to the app as a GET, passes the status
and headers on unchanged (Content-Length included, as a GET would have sent it) and drops
the body.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI wrapper: ``HEAD path`` answers as ``GET path`` would, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "HEAD":
            await self._app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        as_get: Scope = {**scope, "method": "GET"}
        try:
            await self._app(as_get, receive, send_without_body)
        finally:
            # The router names the route on the scope it saw; the request log and the
            # metrics read it from ours (a route template, never the raw path).
            if "path_template" in as_get:
                scope["path_template"] = as_get["path_template"]


__all__ = ["HeadAsGet"]
