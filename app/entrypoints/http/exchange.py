"""REST endpoints over CCXT: /api/exchange/* (instance, fetch*, capabilities)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from app.domain.budget.model import ReadReceipt
from app.domain.exchange import ExchangeService
from app.entrypoints.http.data_source import DATA_SOURCE_HEADERS, served
from app.entrypoints.http.errors import ApiError, endpoint_errors
from app.entrypoints.http.schemas import (
    BalanceResponse,
    CapabilitiesResponse,
    ConfigRequest,
    ErrorBody,
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

# The fixed `error` text of each endpoint (contract section 2); also used for body errors.
ERROR_TEXTS: dict[str, str] = {
    "/api/exchange/instance": "Failed to create exchange instance",
    "/api/exchange/fetchTicker": "Failed to fetch ticker",
    "/api/exchange/fetchOrderBook": "Failed to fetch orderbook",
    "/api/exchange/fetchTrades": "Failed to fetch trades",
    "/api/exchange/fetchOHLCV": "Failed to fetch OHLCV",
    "/api/exchange/fetchBalance": "Failed to fetch balance",
    "/api/exchange/capabilities": "Failed to get capabilities",
    "/api/exchange/watchTicker": "Failed to watch ticker",
    "/api/exchange/watchOrderBook": "Failed to watch orderbook",
    "/api/exchange/watchTrades": "Failed to watch trades",
    "/api/exchange/watchOHLCV": "Failed to watch OHLCV",
    "/api/exchange/watchBalance": "Failed to watch balance",
    "/api/proxy/request": "Proxy request failed",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses an endpoint can answer."""
    meaning = {
        400: "Bad input: body, config, symbol, unknown exchange, credentials refused",
        401: "Access token required",
        403: "Invalid token",
        429: "Rate limited: by the exchange, or by our shared budget for it (then with Retry-After)",
        501: "Not supported by this exchange",
        502: "Exchange unreachable or answered with an error",
        503: "Exchange unavailable (maintenance)",
        504: "Exchange timed out",
    }
    return {
        status: ResponseSpec(ErrorBody, description=meaning.get(status, ""), generate_examples=False)
        for status in (401, 403, *statuses)
    }


EXCHANGE_ERRORS = error_responses(400, 429, 501, 502, 503, 504)


def config_mapping(config: ExchangeConfigBody | InstanceRequest | None) -> dict[str, Any]:
    if config is None:
        return {}
    remember_secrets(config.apiKey, config.secret, config.password)
    return msgspec.structs.asdict(config)


class ExchangeController(Controller):
    path = "/api/exchange"
    tags = ("exchange",)

    @post(
        "/instance",
        status_code=200,
        summary="Create or reuse a cached exchange instance (markets loaded)",
        description="The body is the config itself, flat. The answer echoes it with defaults.",
        responses=EXCHANGE_ERRORS,
    )
    async def instance(
        self, data: JSONBody[InstanceRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> InstanceResponse:
        if not data.exchangeId:
            message = "exchangeId is required"
            raise ApiError(400, message, message, "BadInput")
        with endpoint_errors(ERROR_TEXTS["/api/exchange/instance"]):
            config = await exchange_service.instance(config_mapping(data))
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
    )
    async def fetch_ticker(
        self, data: JSONBody[SymbolRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[TickerResponse]:
        receipt = ReadReceipt()
        with endpoint_errors(ERROR_TEXTS["/api/exchange/fetchTicker"]):
            result = await exchange_service.fetch_ticker(
                config_mapping(data.config),
                data.symbol,
                data.params,
                max_age_ms=data.maxAgeMs,
                receipt=receipt,
            )
        return served(TickerResponse(success=True, data=result), receipt)

    @post(
        "/fetchOrderBook",
        status_code=200,
        summary="fetch_order_book(symbol, limit)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
    )
    async def fetch_order_book(
        self, data: JSONBody[OrderBookRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[OrderBookResponse]:
        receipt = ReadReceipt()
        with endpoint_errors(ERROR_TEXTS["/api/exchange/fetchOrderBook"]):
            result = await exchange_service.fetch_order_book(
                config_mapping(data.config),
                data.symbol,
                data.limit,
                data.params,
                max_age_ms=data.maxAgeMs,
                receipt=receipt,
            )
        return served(OrderBookResponse(success=True, data=result), receipt)

    @post(
        "/fetchTrades",
        status_code=200,
        summary="fetch_trades(symbol, since, limit)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
    )
    async def fetch_trades(
        self, data: JSONBody[TradesRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[TradesResponse]:
        receipt = ReadReceipt()
        with endpoint_errors(ERROR_TEXTS["/api/exchange/fetchTrades"]):
            result = await exchange_service.fetch_trades(
                config_mapping(data.config),
                data.symbol,
                data.since,
                data.limit,
                data.params,
                max_age_ms=data.maxAgeMs,
                receipt=receipt,
            )
        return served(TradesResponse(success=True, data=result), receipt)

    @post(
        "/fetchOHLCV",
        status_code=200,
        summary="fetch_ohlcv(symbol, timeframe or 1m, since, limit)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
    )
    async def fetch_ohlcv(
        self, data: JSONBody[OHLCVRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[OHLCVResponse]:
        receipt = ReadReceipt()
        with endpoint_errors(ERROR_TEXTS["/api/exchange/fetchOHLCV"]):
            result = await exchange_service.fetch_ohlcv(
                config_mapping(data.config),
                data.symbol,
                data.timeframe,
                data.since,
                data.limit,
                data.params,
                max_age_ms=data.maxAgeMs,
                receipt=receipt,
            )
        return served(OHLCVResponse(success=True, data=result), receipt)

    @post(
        "/fetchBalance",
        status_code=200,
        summary="fetch_balance() (needs apiKey and secret in config)",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
    )
    async def fetch_balance(
        self, data: JSONBody[ConfigRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[BalanceResponse]:
        receipt = ReadReceipt()
        with endpoint_errors(ERROR_TEXTS["/api/exchange/fetchBalance"]):
            result = await exchange_service.fetch_balance(
                config_mapping(data.config), data.params, max_age_ms=data.maxAgeMs, receipt=receipt
            )
        return served(BalanceResponse(success=True, data=result), receipt)

    @post(
        "/capabilities",
        status_code=200,
        summary="has, markets, symbols, timeframes and fees of an exchange",
        responses=EXCHANGE_ERRORS,
        response_headers=DATA_SOURCE_HEADERS,
    )
    async def capabilities(
        self, data: JSONBody[ConfigRequest], exchange_service: NamedDependency[ExchangeService]
    ) -> Response[CapabilitiesResponse]:
        receipt = ReadReceipt()
        with endpoint_errors(ERROR_TEXTS["/api/exchange/capabilities"]):
            result = await exchange_service.capabilities(
                config_mapping(data.config), max_age_ms=data.maxAgeMs, receipt=receipt
            )
        body = msgspec.convert({"success": True, "data": result}, CapabilitiesResponse)
        return served(body, receipt)


__all__ = ["ERROR_TEXTS", "EXCHANGE_ERRORS", "ExchangeController", "error_responses"]
