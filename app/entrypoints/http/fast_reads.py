"""The raw road of the hot reads: ``POST /api/exchange/fetch{Ticker,OrderBook,Trades,OHLCV}``.

Once reads come from memory (the freshness cache, streams), Litestar's own per-request work
(routing, CORS, two exception layers, the token and body middleware, kwargs and signature
parsing, dependency resolution, the ``Response`` machinery) costs more than the read. This
ASGI layer answers an *ordinary* request of these routes itself, with the bytes the Litestar
route sends (ADR 0121):

- ordinary: no ``Origin`` header (CORS stays Litestar's), no ``Content-Encoding`` or
  ``Transfer-Encoding``, an ``application/json`` (or ``+json``) body within the route's size
  limit, without a byte-order mark, nested no deeper than the limit, that the route's schema
  decodes (the same msgspec Struct, the same lax rules as Litestar's signature parsing), a
  known bearer token, a route with no hooks, guards or middleware beyond the token gate and
  the body check;
- anything else is handed to the Litestar app untouched, the body replayed, *before* any
  side effect (the token's quota is spent only on this road's own answers): every refusal,
  its status, text and headers, stays the framework's;
- the read itself is the route's (``exchange.read_*``); its failures are rendered by
  Litestar's own exception handling with the route's handlers (``{error, details,
  errorType}`` with the route's text).

The OpenAPI document still comes from the Litestar routes, which also serve every request
this road passes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Response
from litestar._asgi.utils import is_valid_host
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware._internal.exceptions import ExceptionHandlerMiddleware
from litestar.serialization import encode_json, get_serializer
from litestar.types import Receive, ReceiveMessage, Scope, Send
from litestar.utils.scope.state import ScopeState

from app.domain.access import AccessService
from app.domain.budget.model import ReadReceipt
from app.domain.exchange import ExchangeService
from app.domain.nesting import check_json_nesting
from app.entrypoints.http.auth import BearerAuthMiddleware, admit, bearer_token
from app.entrypoints.http.body import (
    DEFAULT_MAX_BODY_BYTES,
    UTF8_BOM,
    JsonBodyMiddleware,
    is_json_media_type,
)
from app.entrypoints.http.exchange import read_ohlcv, read_order_book, read_ticker, read_trades
from app.entrypoints.http.schemas import (
    OHLCVRequest,
    OrderBookRequest,
    SymbolRequest,
    TradesRequest,
)

Read = Callable[[Any, ExchangeService, ReadReceipt], Awaitable[Any]]

READS: dict[str, tuple[type[Any], Read]] = {
    "/api/exchange/fetchTicker": (SymbolRequest, read_ticker),
    "/api/exchange/fetchOrderBook": (OrderBookRequest, read_order_book),
    "/api/exchange/fetchTrades": (TradesRequest, read_trades),
    "/api/exchange/fetchOHLCV": (OHLCVRequest, read_ohlcv),
}
"""Path -> (the route's body schema, the route's read)."""

_PASS_ON_HEADERS = frozenset({b"origin", b"content-encoding", b"transfer-encoding"})
# As `resolve_middleware` lists them: innermost first (the gate wraps the body check).
_ROUTE_MIDDLEWARE = (JsonBodyMiddleware, BearerAuthMiddleware)


@dataclass(frozen=True)
class _Road:
    body_type: type[Any]
    read: Read
    handler: HTTPRouteHandler
    template: str
    limit: int
    serializer: Callable[[Any], Any]


class FastReads:
    """ASGI: the hot reads answered here when ordinary, everything else passed to ``http``.

    Args:
        http: the Litestar app (its routes are looked up once, here).
        exchange_service: provider of the ``ExchangeService`` (the routes' dependency).
        access: provider of the ``AccessService`` (the token gate's).
    """

    def __init__(
        self,
        http: Litestar,
        *,
        exchange_service: Callable[[], ExchangeService],
        access: Callable[[], AccessService],
    ) -> None:
        self._http = http
        self._service = exchange_service
        self._access = access
        self.roads: dict[str, _Road] = {}
        """Path -> road, for the routes this layer may answer (tests read it)."""
        if http.before_send:
            return  # Litestar would run them on every answer: leave every request to it
        for path, (body_type, read) in READS.items():
            road = _road(http, path, body_type, read)
            if road is not None:
                self.roads[path] = road

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        road = (
            self.roads.get(scope["path"])
            if scope["type"] == ScopeType.HTTP and scope.get("method") == "POST"
            else None
        )
        if road is None or scope.get("root_path"):
            await self._http(scope, receive, send)
            return
        await self._serve(road, scope, receive, send)

    async def _serve(self, road: _Road, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = b""
        for name, value in scope["headers"]:
            if name in _PASS_ON_HEADERS:
                await self._http(scope, receive, send)
                return
            if name == b"content-type":
                content_type = value  # the body check reads the last one too
            elif name == b"host" and not is_valid_host(value):
                await self._http(scope, receive, send)
                return
        access = self._access()
        token = access.identify(bearer_token(scope))
        if token is None or not is_json_media_type(content_type.decode("latin-1")):
            await self._http(scope, receive, send)
            return
        received: list[ReceiveMessage] = []
        body = await _read_body(receive, received, road.limit)
        data = None if body is None else _decode(body, road.body_type)
        if data is None:
            await self._http(scope, _replay(received, receive), send)
            return
        # From here on, this road answers: as the router would, name the route on the scope.
        scope["path_template"] = road.template
        scope["route_handler"] = road.handler
        if not await admit(access, token, scope, send):
            return
        receipt = ReadReceipt()
        try:
            answer = await road.read(data, self._service(), receipt)
            payload = encode_json(answer, road.serializer)
        except Exception as exc:  # noqa: BLE001 - rendered by the route's own handlers
            await self._render_error(road, scope, receive, send, exc)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"x-data-source", receipt.source.encode()),
                    (b"x-data-age-ms", str(receipt.age_ms).encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    async def _render_error(
        self, road: _Road, scope: Scope, receive: Receive, send: Send, exc: Exception
    ) -> None:
        """Answer ``exc`` as the route's exception layer would (same handlers, same text)."""
        scope["app"] = scope["litestar_app"] = self._http
        scope.setdefault("state", {})
        ScopeState.from_scope(scope).exception_handlers = road.handler.resolve_exception_handlers()

        async def failed(_scope: Scope, _receive: Receive, _send: Send) -> None:
            raise exc

        await ExceptionHandlerMiddleware(app=failed, debug=None)(scope, receive, send)


def _road(http: Litestar, path: str, body_type: type[Any], read: Read) -> _Road | None:
    """The road for ``path``, or None when its route does something this layer does not."""
    try:
        _, handler, _, _, template = http.asgi_router.handle_routing(path=path, method="POST")
    except Exception:  # noqa: BLE001 - no such route in this app: Litestar keeps it
        return None
    if not isinstance(handler, HTTPRouteHandler):
        return None
    middleware = tuple(
        m.middleware if isinstance(m, DefineMiddleware) else m for m in handler.resolve_middleware()
    )
    if (
        middleware != _ROUTE_MIDDLEWARE
        or handler.resolve_guards()
        or handler.resolve_before_request()
        or any(layer.after_request for layer in handler.ownership_layers)
        or handler.resolve_after_response()
        or handler.background
        or handler.resolve_response_cookies()
        or handler.resolve_response_class() is not Response
        or any(not h.documentation_only for h in handler.resolve_response_headers())
    ):
        return None
    limit = handler.resolve_request_max_body_size()
    return _Road(
        body_type,
        read,
        handler,
        template,
        int(limit) if limit else DEFAULT_MAX_BODY_BYTES,
        get_serializer(handler.resolve_type_encoders()),
    )


async def _read_body(receive: Receive, received: list[ReceiveMessage], limit: int) -> bytes | None:
    """The whole body (every message kept in ``received``), or None past ``limit`` bytes or
    on a disconnect: then the Litestar road, given the same messages, decides."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _decode(body: bytes, body_type: type[Any]) -> Any:
    """The body as the route's Struct, or None for anything the body check or the schema
    would refuse (a BOM is accepted there, but dropped first: that road handles it)."""
    if body.startswith(UTF8_BOM):
        return None
    try:
        check_json_nesting(body)
        # strict=False: Litestar parses a route's arguments with the same lax rules.
        return msgspec.json.decode(body, type=body_type, strict=False)
    except Exception:  # noqa: BLE001 - bad JSON, schema, nesting: that road answers it
        return None


def _replay(received: list[ReceiveMessage], original: Receive) -> Receive:
    """``received`` again in order, then the client's own messages."""
    pending = list(received)

    async def receive() -> ReceiveMessage:
        if pending:
            return pending.pop(0)
        return await original()

    return receive


__all__ = ["READS", "FastReads"]
