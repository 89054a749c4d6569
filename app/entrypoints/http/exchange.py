"""REST endpoints over CCXT: /api/exchange/* (instance, fetch*, capabilities).

Each handler translates only: its typed body (``schemas``) becomes domain values once
(``domain_config``), the ``ExchangeService`` does the rest, and failures are rendered by the
one error pipeline (``errors``) with the route's fixed text from ``opt``.
"""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from app.domain.budget.model import ReadReceipt
from app.domain.config import ExchangeConfig
from app.domain.errors import BadInput
from app.domain.exchange import ExchangeService
from app.entrypoints.http.data_source import DATA_SOURCE_HEADERS, served
from app.entrypoints.http.errors import route_error
from app.entrypoints.http.openapi import EXCHANGE_ERRORS
from app.entrypoints.http.schemas import (
    BalanceResponse,
    CapabilitiesResponse,
    ConfigRequest,
    ExchangeConfigBody,
    InstanceRequest,
    InstanceResponse,
    OHLCVRequest,
    OHLCVResponse,
    OrderBookRequest,
    OrderBookResponse,
    SymbolRequest,
    TickerResponse,
    TradesRequest,
    TradesResponse,
)
from app.observability import remember_secrets

EXCHANGE_ID_REQUIRED = "exchangeId is required"
"""The instance endpoint's own fixed text (contract section 2)."""


def domain_config(
    body: ExchangeConfigBody | InstanceRequest, service: ExchangeService
) -> ExchangeConfig:
    """The edge's one conversion of a config body; its secrets are scrubbed from any output."""
    remember_secrets(body.apiKey, body.secret, body.password)
    return service.config(
        body.exchangeId,
        market_type=body.marketType,
        ccxt_type=body.ccxtType,
        sandbox=body.sandbox,
        api_key=body.apiKey,
        secret=body.secret,
        password=body.password,
    )


# The reads behind the fetch* routes, shared with the raw road of ``fast_reads`` (ADR 0121):
# a body in, the answer out, the receipt filled (source and age for X-Data-Source).


async def read_ticker(
    data: SymbolRequest, service: ExchangeService, receipt: ReadReceipt
) -> TickerResponse:
    result = await service.fetch_ticker(
        domain_config(data.config, service),
        data.symbol,
        data.params,
        max_age_ms=data.maxAgeMs,
        receipt=receipt,
    )
    return TickerResponse(success=True, data=result)


async def read_order_book(
    data: OrderBookRequest, service: ExchangeService, receipt: ReadReceipt
) -> OrderBookResponse:
    result = await service.fetch_order_book(
        domain_config(data.config, service),
        data.symbol,
        data.limit,
        data.params,
        max_age_ms=data.maxAgeMs,
        receipt=receipt,
    )
    return OrderBookResponse(success=True, data=result)


async def read_trades(
    data: TradesRequest, service: ExchangeService, receipt: ReadReceipt
) -> TradesResponse:
    result = await service.fetch_trades(
        domain_config(data.config, service),
        data.symbol,
        data.since,
        data.limit,
        data.params,
        max_age_ms=data.maxAgeMs,
        receipt=receipt,
    )
    return TradesResponse(success=True, data=result)


async def read_ohlcv(
    data: OHLCVRequest, service: ExchangeService, receipt: ReadReceipt
) -> OHLCVResponse:
    result = await service.fetch_ohlcv(
        domain_config(data.config, service),
        data.symbol,
        data.timeframe,
        data.since,
        data.limit,
        data.params,
        max_age_ms=data.maxAgeMs,
        receipt=receipt,
    )
    return OHLCVResponse(success=True, data=result)


class ExchangeController(Controller):
    path = "/api/exchange"
    tags = ("exchange",)

    @post(
        "/instance",
        status_code=200,
        summary="Create or reuse a cached exchange instance (markets loaded)",
        description="The body is the config itself, flat. The answer echoes it with defaults.",
        responses=EXCHANGE_ERRORS,
        opt=route_error("Failed to create exchange instance"),
    )
    async def instance(
        self, data: JSONBody[InstanceRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> InstanceResponse:
        if not data.exchangeId:
            raise BadInput(EXCHANGE_ID_REQUIRED, headline=EXCHANGE_ID_REQUIRED)
        config = await exchange_service.instance(domain_config(data, exchange_service))
        return InstanceResponse(
            success=True,
            exchangeId=config.exchange_id,
            marketType=config.market_type,
            ccxtType=config.ccxt_type,
            sandbox=config.sandbox,
            hasCredentials=config.has_credentials,
        )

    @post(
        "/fetchTicker",
        status_code=200,
        summary="fetch_ticker(symbol)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
        opt=route_error("Failed to fetch ticker"),
    )
    async def fetch_ticker(
        self, data: JSONBody[SymbolRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[TickerResponse]:
        receipt = ReadReceipt()
        return served(await read_ticker(data, exchange_service, receipt), receipt)

    @post(
        "/fetchOrderBook",
        status_code=200,
        summary="fetch_order_book(symbol, limit)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
        opt=route_error("Failed to fetch orderbook"),
    )
    async def fetch_order_book(
        self, data: JSONBody[OrderBookRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[OrderBookResponse]:
        receipt = ReadReceipt()
        return served(await read_order_book(data, exchange_service, receipt), receipt)

    @post(
        "/fetchTrades",
        status_code=200,
        summary="fetch_trades(symbol, since, limit)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
        opt=route_error("Failed to fetch trades"),
    )
    async def fetch_trades(
        self, data: JSONBody[TradesRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[TradesResponse]:
        receipt = ReadReceipt()
        return served(await read_trades(data, exchange_service, receipt), receipt)

    @post(
        "/fetchOHLCV",
        status_code=200,
        summary="fetch_ohlcv(symbol, timeframe or 1m, since, limit)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
        opt=route_error("Failed to fetch OHLCV"),
    )
    async def fetch_ohlcv(
        self, data: JSONBody[OHLCVRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[OHLCVResponse]:
        receipt = ReadReceipt()
        return served(await read_ohlcv(data, exchange_service, receipt), receipt)

    @post(
        "/fetchBalance",
        status_code=200,
        summary="fetch_balance() (needs apiKey and secret in config)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
        opt=route_error("Failed to fetch balance"),
    )
    async def fetch_balance(
        self, data: JSONBody[ConfigRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[BalanceResponse]:
        receipt = ReadReceipt()
        result = await exchange_service.fetch_balance(
            domain_config(data.config, exchange_service),
            data.params,
            max_age_ms=data.maxAgeMs,
            receipt=receipt,
        )
        return served(BalanceResponse(success=True, data=result), receipt)

    @post(
        "/capabilities",
        status_code=200,
        summary="has, markets, symbols, timeframes and fees of an exchange",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
        opt=route_error("Failed to get capabilities"),
    )
    async def capabilities(
        self, data: JSONBody[ConfigRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[CapabilitiesResponse]:
        receipt = ReadReceipt()
        result = await exchange_service.capabilities(
            domain_config(data.config, exchange_service), max_age_ms=data.maxAgeMs, receipt=receipt
        )
        body = msgspec.convert({"success": True, "data": result}, CapabilitiesResponse)
        return served(body, receipt)


__all__ = [
    "ExchangeController",
    "domain_config",
    "read_ohlcv",
    "read_order_book",
    "read_ticker",
    "read_trades",
]
