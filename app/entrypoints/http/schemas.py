"""Request and response bodies of the REST API, as msgspec Structs (they drive the OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from app.entrypoints.http import examples

_LIMIT = Annotated[int | None, msgspec.Meta(description="Maximum number of items", examples=[20])]
_SINCE = Annotated[
    int | None,
    msgspec.Meta(description="Earliest timestamp, ms since epoch", examples=[1735689600000]),
]
_PARAMS = Annotated[
    dict[str, Any] | None,
    msgspec.Meta(description="Extra exchange-specific parameters passed through to CCXT"),
]


_MAX_AGE_MS = Annotated[
    Annotated[int, msgspec.Meta(ge=0)] | None,
    msgspec.Meta(
        description=(
            "Oldest acceptable answer in ms (default: the server's `[budget.max_age_ms]` for "
            "the data type; a larger value does not raise it). 0: ask the exchange, though an "
            "identical call already in flight is still shared."
        ),
        examples=[0],
    ),
]

_EXCHANGE_ID = Annotated[str, msgspec.Meta(description="A CCXT exchange id", examples=["binance"])]


class _ConfigFields(msgspec.Struct, kw_only=True):
    marketType: Literal["spot", "futures"] | None = None
    ccxtType: Literal["regular", "pro"] | None = None
    apiKey: str | None = None
    secret: str | None = None
    password: str | None = None
    sandbox: bool | None = None


class ExchangeConfigBody(_ConfigFields, kw_only=True):
    """Which exchange instance to use. Credentials are optional except for balances."""

    exchangeId: _EXCHANGE_ID


class InstanceRequest(_ConfigFields, kw_only=True):
    """The config itself, flat. `exchangeId` is required (checked with the contract's text)."""

    exchangeId: _EXCHANGE_ID | None = None


class ConfigRequest(msgspec.Struct, kw_only=True):
    config: ExchangeConfigBody
    params: _PARAMS = None
    maxAgeMs: _MAX_AGE_MS = None


class SymbolRequest(msgspec.Struct, kw_only=True):
    config: ExchangeConfigBody
    symbol: Annotated[
        str, msgspec.Meta(description="Unified CCXT symbol", examples=["BTC/USDT", "BTC/USDT:USDT"])
    ]
    params: _PARAMS = None
    maxAgeMs: _MAX_AGE_MS = None


class OrderBookRequest(SymbolRequest, kw_only=True):
    limit: _LIMIT = None


class TradesRequest(SymbolRequest, kw_only=True):
    since: _SINCE = None
    limit: _LIMIT = None


class OHLCVRequest(SymbolRequest, kw_only=True):
    timeframe: Annotated[str | None, msgspec.Meta(examples=["1h"])] = None
    since: _SINCE = None
    limit: _LIMIT = None


class InstanceResponse(msgspec.Struct, kw_only=True):
    success: bool
    exchangeId: str
    marketType: str
    ccxtType: str
    sandbox: bool
    hasCredentials: bool


class DataResponse(msgspec.Struct, kw_only=True):
    """`data` is the CCXT unified structure of the call (ticker, order book, trades...)."""

    success: bool
    data: Any


class TickerResponse(DataResponse, kw_only=True):
    data: Annotated[dict[str, Any], msgspec.Meta(examples=[examples.TICKER])]


class OrderBookResponse(DataResponse, kw_only=True):
    data: Annotated[dict[str, Any], msgspec.Meta(examples=[examples.ORDER_BOOK])]


class TradesResponse(DataResponse, kw_only=True):
    data: Annotated[list[dict[str, Any]], msgspec.Meta(examples=[examples.TRADES])]


class OHLCVResponse(DataResponse, kw_only=True):
    data: Annotated[
        list[list[float]],
        msgspec.Meta(
            description="[timestamp ms, open, high, low, close, volume], oldest first",
            examples=[examples.OHLCV],
        ),
    ]


class BalanceResponse(DataResponse, kw_only=True):
    data: Annotated[dict[str, Any], msgspec.Meta(examples=[examples.BALANCE])]


class CapabilitiesData(msgspec.Struct, kw_only=True):
    has: dict[str, Any]
    markets: list[str]
    symbols: list[str]
    timeframes: dict[str, Any]
    fees: dict[str, Any]


class CapabilitiesResponse(msgspec.Struct, kw_only=True):
    success: bool
    data: CapabilitiesData


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every error answer: a fixed `error` text per endpoint, the cause in `details`."""

    error: Annotated[str, msgspec.Meta(examples=["Failed to fetch ticker"])]
    details: Annotated[
        str | None, msgspec.Meta(examples=["binance does not have market symbol X/Y"])
    ] = None
    errorType: Annotated[str | None, msgspec.Meta(examples=["BadSymbol"])] = None


class HealthResponse(msgspec.Struct, kw_only=True):
    status: str
    timestamp: str
    version: str | None = None
