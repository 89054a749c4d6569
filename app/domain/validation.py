"""Every rule a market-data request must pass, in one place, for every path that takes one.

REST fetch*, REST watch* and Socket.IO subscribe all call these functions, so a value one path
refuses is refused by the others with the same ``BadInput`` subclass and the same text.
Values arrive either typed by an edge schema (HTTP, msgspec) or raw (Socket.IO payloads):
every function accepts ``object`` and returns the typed value.

What each path calls, in order:

    config      app.domain.config.parse_exchange_config (exchange id known, choices, types)
    symbol      require_symbol            (not balance)
    timeframe   timeframe_or_default      (ohlcv; Socket.IO: required, see its own text)
    since       optional_since            (trades, ohlcv)
    limit       optional_limit            (orderbook, trades, ohlcv)
    params      check_params              (every endpoint and stream)
    credentials require_credentials       (balance)
    pro         require_pro               (REST watch*: config.ccxtType must be "pro")
    -- with the exchange's capabilities, once the instance exists --
    symbol      check_symbol_listed       (a symbol the exchange does not list)
    timeframe   check_timeframe_supported (a timeframe the exchange does not offer)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from app.domain.config import CONFIG_FIELD_ERRORS, ExchangeConfig
from app.domain.errors import BadInput, BadSymbol, CredentialsRequired, ReservedParam
from app.domain.nesting import check_nesting

MAX_SYMBOL_LENGTH = 100
MAX_TIMEFRAME_LENGTH = 16

FIELD_ERRORS: Mapping[str, str] = MappingProxyType(
    {
        "symbol": "symbol must be a string",
        "timeframe": "timeframe must be a string like 1m, 1h or 1d",
        "params": "params must be a JSON object",
        "limit": "limit must be an integer",
        "since": "since must be an integer",
        "maxAgeMs": "maxAgeMs must be an integer",
        "depth": "depth must be an integer",  # Socket.IO only (order book views)
        "history": "history must be an integer",  # Socket.IO only (candle history)
    }
)
"""The text for a request field of the wrong type, on every transport (see
``app.domain.config.CONFIG_FIELD_ERRORS``, which holds the config's fields)."""


def field_error(field: str) -> str | None:
    """The one text for a field of the wrong type: ``symbol``, ``params``..., ``config``, a
    config field (``config.apiKey``; bare ``apiKey`` as ``POST /instance`` sends it); None
    for a field without one."""
    return FIELD_ERRORS.get(field) or CONFIG_FIELD_ERRORS.get(field.removeprefix("config."))


WEBSOCKET_REQUIRES_PRO = "WebSocket requires CCXT Pro"
"""The contract's fixed text when a watch endpoint gets a non-pro config."""

# `params` keys that would set what the endpoint itself sets, compared after lowercasing and
# dropping "_" and "-" (so instId, inst_id and INST-ID are one key). Sources: ccxt's unified
# argument names, and the market/interval/limit/time-range request fields of the exchanges
# ccxt maps (binance symbol/interval/startTime/endTime, okx instId/bar/after/before, deribit
# instrument_name/resolution, coinbase product_id/granularity, kraken pair, gate
# currency_pair/contract, kucoin/bitmart/huobi period, bybit category-less symbol/interval,
# hyperliquid coin, bitfinex/poloniex market...). Exchange-specific extras stay allowed.
_RESERVED_PARAMS: dict[str, str] = {
    **dict.fromkeys(
        (
            "symbol",
            "symbols",
            "market",
            "markets",
            "marketid",
            "marketname",
            "pair",
            "pairs",
            "currencypair",
            "instid",
            "instrumentid",
            "instrumentname",
            "instrument",
            "productid",
            "contract",
            "contractcode",
            "coin",
        ),
        "symbol",
    ),
    **dict.fromkeys(
        (
            "timeframe",
            "interval",
            "granularity",
            "resolution",
            "period",
            "bar",
            "kline",
            "klinetype",
            "candle",
            "candletype",
        ),
        "timeframe",
    ),
    **dict.fromkeys(("limit", "depth", "size", "count"), "limit"),
    **dict.fromkeys(
        (
            "since",
            "starttime",
            "endtime",
            "start",
            "end",
            "from",
            "to",
            "until",
            "after",
            "before",
        ),
        "since",
    ),
}


def printable(value: object, limit: int = 64) -> str:
    """Echo an untrusted value back safely: bounded, printable, never a container's repr."""
    text = value if isinstance(value, str) else type(value).__name__
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


def require_symbol(symbol: object) -> str:
    """A market symbol as sent (``BTC/USDT``, ``BTC/USDT:USDT``, an exchange id...).

    Raises:
        BadInput: missing, not a string, longer than 100 characters or not printable.
    """
    if symbol is None or symbol == "":
        raise BadInput("symbol is required")
    if not isinstance(symbol, str):
        raise BadInput(FIELD_ERRORS["symbol"])
    if len(symbol) > MAX_SYMBOL_LENGTH or not symbol.isprintable():
        raise BadInput("symbol is not a valid market symbol")
    return symbol


def _optional_int(value: object, field: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(FIELD_ERRORS[field])
    if value < minimum:
        raise BadInput(f"{field} must be >= {minimum}")
    return value


def optional_limit(value: object) -> int | None:
    """Maximum number of items, or None. Raises BadInput unless an integer >= 1."""
    return _optional_int(value, "limit", minimum=1)


def optional_since(value: object) -> int | None:
    """Earliest timestamp in ms since epoch, or None. Raises BadInput unless an integer >= 0."""
    return _optional_int(value, "since", minimum=0)


def timeframe_or_default(value: object, default: str = "1m") -> str:
    """A candle timeframe in ccxt's form (``1m``, ``1h``, ``1d``); ``default`` when missing.

    Raises:
        BadInput: not a short alphanumeric string.
    """
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > MAX_TIMEFRAME_LENGTH or not value.isalnum():
        raise BadInput(FIELD_ERRORS["timeframe"])
    return value


MARKET_ARGUMENTS: frozenset[str] = frozenset({"symbol", "timeframe", "limit", "since"})
"""What a market-data request (ticker, order book, trades, OHLCV; fetch, watch, subscribe)
sets itself; ``params`` may not set any of them, whichever of them the endpoint takes, so
one rule holds on every market-data path."""


def check_params(params: object, *, sets: frozenset[str] = MARKET_ARGUMENTS) -> dict[str, Any]:
    """Extra exchange-specific parameters passed through to ccxt, or ``{}``.

    A key that would set what the request itself sets (``sets``: symbol, timeframe, limit,
    since, or an exchange's own name for one of them, e.g. binance ``interval`` or okx
    ``instId``) is refused: the answer would be labelled with one symbol or timeframe and hold
    another (issue 10 item 8). Balance requests set none of them and pass ``sets=frozenset()``
    (``symbols`` there selects isolated-margin accounts, a legitimate extra).

    Raises:
        BadInput: not a JSON object.
        NestingTooDeep: nested deeper than ``app.domain.nesting.MAX_NESTING_DEPTH``.
        ReservedParam: a reserved key, named in the message.
    """
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise BadInput(FIELD_ERRORS["params"])
    check_nesting(params)
    for key in params:
        concept = _RESERVED_PARAMS.get(_normalise(key))
        if concept is not None and concept in sets:
            raise ReservedParam(
                f"params.{printable(key)} is not allowed: it would override the request's "
                f"{concept}; set {concept} in the request itself"
            )
    return params


def _normalise(key: object) -> str:
    return str(key).lower().replace("_", "").replace("-", "")


def require_credentials(config: ExchangeConfig, message: str) -> None:
    """Both apiKey and secret must be set; ``message`` is the contract's fixed text.

    Raises:
        CredentialsRequired: with ``message`` as details and as the fixed ``error`` text.
    """
    creds = config.credentials
    if not (creds.api_key and creds.secret):
        raise CredentialsRequired(message, headline=message)


def require_pro(config: ExchangeConfig) -> None:
    """REST watch* endpoints need a streaming-capable instance: ``ccxtType`` "pro".

    Raises:
        BadInput: with the contract's fixed text "WebSocket requires CCXT Pro".
    """
    if config.ccxt_type != "pro":
        raise BadInput(
            'config.ccxtType must be "pro" for watch endpoints', headline=WEBSOCKET_REQUIRES_PRO
        )


def check_symbol_listed(exchange_id: str, symbol: str, symbols: Iterable[str]) -> None:
    """The exchange must list the symbol (an empty list means "unknown": not checked).

    ``BTC/USDT`` also matches the settled form ``BTC/USDT:USDT`` a futures instance lists.

    Raises:
        BadSymbol: ccxt's own text, "<exchange> does not have market symbol <symbol>".
    """
    listed = list(symbols)
    if not listed or symbol in listed:
        return
    prefix = symbol + ":"
    if any(s.startswith(prefix) for s in listed):
        return
    raise BadSymbol(f"{exchange_id} does not have market symbol {printable(symbol, 100)}")


def check_timeframe_supported(
    exchange_id: str, timeframe: str, timeframes: Mapping[str, Any] | None
) -> None:
    """The exchange must offer the timeframe (an empty map means "unknown": not checked).

    Raises:
        BadInput: "<exchange> does not support timeframe <tf> (supported: 1m, 5m, ...)".
    """
    if not timeframes or timeframe in timeframes:
        return
    offered = ", ".join(list(timeframes)[:20])
    raise BadInput(
        f"{exchange_id} does not support timeframe {printable(timeframe)} (supported: {offered})"
    )


__all__ = [
    "MARKET_ARGUMENTS",
    "MAX_SYMBOL_LENGTH",
    "WEBSOCKET_REQUIRES_PRO",
    "check_params",
    "check_symbol_listed",
    "check_timeframe_supported",
    "optional_limit",
    "optional_since",
    "printable",
    "require_credentials",
    "require_pro",
    "require_symbol",
    "timeframe_or_default",
]


STREAM_FORMATS: frozenset[str] = frozenset({"full", "delta"})
MAX_BOOK_DEPTH = 5000
MAX_CANDLE_HISTORY = 1000


def stream_format(value: object, data_type: str) -> str:
    """A subscription's ``format``: ``full`` (default) or ``delta`` (orderbook only).

    Raises:
        BadInput: another value, or ``delta`` on a data type other than orderbook.
    """
    if value is None:
        return "full"
    if not isinstance(value, str) or value not in STREAM_FORMATS:
        raise BadInput('format must be "full" or "delta"')
    if value == "delta" and data_type != "orderbook":
        raise BadInput('format "delta" is for orderbook subscriptions only')
    return value


def optional_depth(value: object, data_type: str) -> int | None:
    """A subscription's ``depth``: levels per side (orderbook only), 1..5000, or None.

    Raises:
        BadInput: not an integer in range, or given for another data type.
    """
    depth = _optional_int(value, "depth", minimum=1)
    if depth is None:
        return None
    if depth > MAX_BOOK_DEPTH:
        raise BadInput(f"depth must be <= {MAX_BOOK_DEPTH}")
    if data_type != "orderbook":
        raise BadInput("depth is for orderbook subscriptions only")
    return depth


def optional_history(value: object, data_type: str) -> int | None:
    """A subscription's ``history``: closed candles sent first (ohlcv only), 1..1000, or None.

    Raises:
        BadInput: not an integer in range, or given for another data type.
    """
    history = _optional_int(value, "history", minimum=1)
    if history is None:
        return None
    if history > MAX_CANDLE_HISTORY:
        raise BadInput(f"history must be <= {MAX_CANDLE_HISTORY}")
    if data_type != "ohlcv":
        raise BadInput("history is for ohlcv subscriptions only")
    return history
