"""REST one-shot reads of live streams: /api/exchange/watch* (the next update of the stream)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from app.domain.config import ExchangeConfig
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
from app.entrypoints.http.errors import ApiError, endpoint_errors
from app.entrypoints.http.exchange import ERROR_TEXTS, config_mapping, error_responses
from app.entrypoints.http.schemas import (
    ConfigRequest,
    DataResponse,
    OHLCVRequest,
    OrderBookRequest,
    SymbolRequest,
    TradesRequest,
)
from app.ports.exchange_gateway import WATCH_METHODS

WATCH_ERRORS = error_responses(400, 429, 502, 503, 504)
BALANCE_CREDENTIALS = "API credentials required for balance watching"


@contextmanager
def watch_errors(path: str, data_type: str) -> Iterator[None]:
    """The endpoint's fixed text, and the contract's own text for an unsupported method."""
    try:
        with endpoint_errors(ERROR_TEXTS[path]):
            yield
    except ApiError as exc:
        cause = exc.__cause__
        if isinstance(cause, SubscriptionRejected) and cause.error_type == "NotSupported":
            method = WATCH_METHODS[data_type]
            raise ApiError(
                400, f"Exchange does not support {method}", exc.details, "NotSupported"
            ) from cause
        raise


def _pro_config(service: ExchangeService, body: Any) -> ExchangeConfig:
    config = service.parse_config(config_mapping(body))
    require_pro(config)
    return config


class WatchController(Controller):
    path = "/api/exchange"
    tags = ("watch",)

    @post("/watchTicker", status_code=200, summary="Next ticker update (ccxtType pro)",
          responses=WATCH_ERRORS)
    async def watch_ticker(
        self,
        data: JSONBody[SymbolRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        with watch_errors("/api/exchange/watchTicker", "ticker"):
            config = _pro_config(exchange_service, data.config)
            symbol = require_symbol(data.symbol)
            check_params(data.params)
            result = await stream_service.read_next(StreamRequest(config, "ticker", symbol))
        return DataResponse(success=True, data=result)

    @post("/watchOrderBook", status_code=200, summary="Next order book (ccxtType pro)",
          responses=WATCH_ERRORS)
    async def watch_order_book(
        self,
        data: JSONBody[OrderBookRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        with watch_errors("/api/exchange/watchOrderBook", "orderbook"):
            config = _pro_config(exchange_service, data.config)
            symbol = require_symbol(data.symbol)
            check_params(data.params)
            limit = optional_limit(data.limit)
            book = await stream_service.read_next(
                StreamRequest(config, "orderbook", symbol), limit=limit
            )
        return DataResponse(success=True, data=book)

    @post("/watchTrades", status_code=200, summary="Next trades (ccxtType pro)",
          responses=WATCH_ERRORS)
    async def watch_trades(
        self,
        data: JSONBody[TradesRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        with watch_errors("/api/exchange/watchTrades", "trades"):
            config = _pro_config(exchange_service, data.config)
            symbol = require_symbol(data.symbol)
            check_params(data.params)
            since = optional_since(data.since)
            limit = optional_limit(data.limit)
            trades = await stream_service.read_next(
                StreamRequest(config, "trades", symbol), limit=limit, since=since
            )
        return DataResponse(success=True, data=trades)

    @post("/watchOHLCV", status_code=200, summary="Next candle updates (ccxtType pro)",
          responses=WATCH_ERRORS)
    async def watch_ohlcv(
        self,
        data: JSONBody[OHLCVRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        with watch_errors("/api/exchange/watchOHLCV", "ohlcv"):
            config = _pro_config(exchange_service, data.config)
            symbol = require_symbol(data.symbol)
            check_params(data.params)
            timeframe = timeframe_or_default(data.timeframe)
            limit = optional_limit(data.limit)
            candles = await stream_service.read_next(
                StreamRequest(config, "ohlcv", symbol, timeframe), limit=limit
            )
        return DataResponse(success=True, data=candles)

    @post("/watchBalance", status_code=200, summary="Next balance update (credentials, pro)",
          responses=WATCH_ERRORS)
    async def watch_balance(
        self,
        data: JSONBody[ConfigRequest],
        exchange_service: NamedDependency[ExchangeService],
        stream_service: NamedDependency[StreamService],
    ) -> DataResponse:
        with watch_errors("/api/exchange/watchBalance", "balance"):
            config = _pro_config(exchange_service, data.config)
            require_credentials(config, BALANCE_CREDENTIALS)
            check_params(data.params, sets=frozenset())
            result = await stream_service.read_next(StreamRequest(config, "balance", ""))
        return DataResponse(success=True, data=result)


__all__ = ["WatchController"]
