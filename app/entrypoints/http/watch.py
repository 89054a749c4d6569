"""REST one-shot reads of live streams: /api/exchange/watch* (the next update of the stream).

Validation is the fetch paths' own (``app.domain.validation``); the use case is
``StreamService.read_next``; failures go through the one error pipeline with the route's
fixed text.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from app.domain.errors import BadInput
from app.domain.exchange import ExchangeService
from app.domain.streams import StreamRequest, StreamService, SubscriptionRejected
from app.domain.validation import (
    check_params,
    optional_limit,
    optional_since,
    require_credentials,
    require_pro,
    require_symbol,
    timeframe_or_default,
)
from app.entrypoints.http.errors import route_error
from app.entrypoints.http.exchange import domain_config
from app.entrypoints.http.openapi import WATCH_ERRORS
from app.entrypoints.http.schemas import (
    ConfigRequest,
    DataResponse,
    ExchangeConfigBody,
    OHLCVRequest,
    OrderBookRequest,
    SymbolRequest,
    TradesRequest,
)
from app.ports.exchange_gateway import WATCH_METHODS

BALANCE_CREDENTIALS = "API credentials required for balance watching"


def _request(
    service: ExchangeService,
    body: ExchangeConfigBody,
    data_type: str,
    symbol: str | None = None,
    timeframe: str | None = None,
) -> StreamRequest:
    """Config (pro), then symbol: the order the fetch paths check them in."""
    config = domain_config(body, service)
    require_pro(config)
    checked = "" if data_type == "balance" else require_symbol(symbol)
    return StreamRequest(config, data_type, checked, timeframe)


async def _read_next(
    streams: StreamService,
    request: StreamRequest,
    *,
    limit: int | None = None,
    since: int | None = None,
) -> Any:
    """The stream's next update; an unsupported stream keeps the contract's own 400 text."""
    try:
        return await streams.read_next(request, limit=limit, since=since)
    except SubscriptionRejected as exc:
        if exc.error_type != "NotSupported":
            raise
        method = WATCH_METHODS[request.data_type]
        raise BadInput(
            exc.details, error_type="NotSupported", headline=f"Exchange does not support {method}"
        ) from None


class WatchController(Controller):
    path = "/api/exchange"
    tags = ("watch",)

    @post(
        "/watchTicker",
        status_code=200,
        summary="Next ticker update (ccxtType pro)",
        responses=WATCH_ERRORS,
        opt=route_error("Failed to watch ticker"),
    )
    async def watch_ticker(
        self,
        data: JSONBody[SymbolRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        request = _request(exchange_service, data.config, "ticker", data.symbol)
        check_params(data.params)
        return DataResponse(success=True, data=await _read_next(stream_service, request))

    @post(
        "/watchOrderBook",
        status_code=200,
        summary="Next order book (ccxtType pro)",
        responses=WATCH_ERRORS,
        opt=route_error("Failed to watch orderbook"),
    )
    async def watch_order_book(
        self,
        data: JSONBody[OrderBookRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        request = _request(exchange_service, data.config, "orderbook", data.symbol)
        check_params(data.params)
        limit = optional_limit(data.limit)
        book = await _read_next(stream_service, request, limit=limit)
        return DataResponse(success=True, data=book)

    @post(
        "/watchTrades",
        status_code=200,
        summary="Next trades (ccxtType pro)",
        responses=WATCH_ERRORS,
        opt=route_error("Failed to watch trades"),
    )
    async def watch_trades(
        self,
        data: JSONBody[TradesRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        request = _request(exchange_service, data.config, "trades", data.symbol)
        check_params(data.params)
        since, limit = optional_since(data.since), optional_limit(data.limit)
        trades = await _read_next(stream_service, request, limit=limit, since=since)
        return DataResponse(success=True, data=trades)

    @post(
        "/watchOHLCV",
        status_code=200,
        summary="Next candle updates (ccxtType pro)",
        responses=WATCH_ERRORS,
        opt=route_error("Failed to watch OHLCV"),
    )
    async def watch_ohlcv(
        self,
        data: JSONBody[OHLCVRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        timeframe = timeframe_or_default(data.timeframe)
        request = _request(exchange_service, data.config, "ohlcv", data.symbol, timeframe)
        check_params(data.params)
        optional_since(data.since)
        limit = optional_limit(data.limit)
        candles = await _read_next(stream_service, request, limit=limit)
        return DataResponse(success=True, data=candles)

    @post(
        "/watchBalance",
        status_code=200,
        summary="Next balance update (credentials, pro)",
        responses=WATCH_ERRORS,
        opt=route_error("Failed to watch balance"),
    )
    async def watch_balance(
        self,
        data: JSONBody[ConfigRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        request = _request(exchange_service, data.config, "balance")
        require_credentials(request.config, BALANCE_CREDENTIALS)
        check_params(data.params, sets=frozenset())
        return DataResponse(success=True, data=await _read_next(stream_service, request))


__all__ = ["WatchController"]
