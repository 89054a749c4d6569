"""The REST edge: one pass per request for the request id, HEAD, the log line and metrics.

The log line has method, path (never the query), status, duration, request id and the
token's *name*; the metrics sample has the route template (never the raw path), method,
status and duration. HEAD is answered as the GET of the same path without its body (RFC
9110 9.3.2: uptime monitors probe with HEAD; Litestar routes HEAD only to handlers that
declare it, and a GET handler with a body cannot). One wrapper does all of it, so a request
pays for one extra ASGI layer and one ``send`` wrapper (ADR 0121).
"""

from __future__ import annotations

import logging
import random
from time import perf_counter
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.adapters.metrics import NullMetrics
from app.observability import bind_request_id, emit_request_line, reset_request_id
from app.ports.metrics import Metrics

log = logging.getLogger("app.http")  # written by emit_request_line: the structlog line, cheaper

_REQUEST_ID_HEADER = b"x-request-id"
UNMATCHED_ROUTE = "unmatched"
"""The route label of requests no handler matched (404s): raw paths would be unbounded."""


class RequestLogMiddleware:
    """Outermost REST wrapper. Socket.IO's own traffic is skipped: it is not a request/response.

    Per request: the request id (a sane ``X-Request-ID`` is kept, else 32 random hex digits)
    is bound for every line logged meanwhile and sent back as ``X-Request-ID``; a HEAD goes
    to the app as a GET and its body is dropped (status and headers, Content-Length included,
    pass unchanged); afterwards one ``http_request`` line and one metrics sample.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        skip_prefixes: tuple[str, ...] = ("/socket.io",),
        metrics: Metrics | None = None,
    ) -> None:
        self._app = app
        self._skip = skip_prefixes
        self._metrics: Metrics = metrics or NullMetrics()
        # Request ids correlate lines; they grant nothing, so they need to be unique, not
        # unpredictable: 128 bits from a generator seeded by os.urandom, no syscall per
        # request (os.urandom per request cost ~1 us of server CPU, ADR 0180).
        self._ids = random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != ScopeType.HTTP or path.startswith(self._skip):
            await self._app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or f"{self._ids.getrandbits(128):032x}"
        id_header = (_REQUEST_ID_HEADER, request_id.encode())
        started = perf_counter()
        status = 500
        state: dict[str, Any] = scope.setdefault("state", {})
        method = scope.get("method", "")
        head = method == "HEAD"

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        inner: Any = {**scope, "method": "GET"} if head else scope
        bound = bind_request_id(request_id)
        try:
            await self._app(inner, receive, send_with_id)
        finally:
            try:
                seconds = perf_counter() - started
                # The router names the route on the scope it saw (a template, never the path).
                route: str = inner.get("path_template") or UNMATCHED_ROUTE
                if head and "path_template" in inner:
                    scope["path_template"] = route
                self._metrics.http_request(route, method, status, seconds)
                duration_ms = round(seconds * 1000, 3)
                token_name = state.get("token_name")
                emit_request_line(log, method, path, status, duration_ms, token_name)
            finally:
                reset_request_id(bound)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_HEADER:
            text = value.decode("latin-1")[:64]
            # ASCII only: str.isalnum() also takes latin-1 letters (a UTF-8 "ü" decoded as
            # latin-1 is "Ã¼"), which would go back re-encoded, not as the client sent them.
            if text and text.isascii() and all(c.isalnum() or c in "-_." for c in text):
                return text
    return None
