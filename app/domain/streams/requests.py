"""A client's subscribe payload into a StreamRequest, through the rules every path shares.

The Socket.IO contract's own texts (section 3) cover what only a subscription can get wrong
(missing fields, the data type, the OHLCV timeframe); symbol, timeframe, params, config and
credentials go through ``app.domain.validation`` and ``parse_exchange_config``, so a value the
REST fetch and watch paths refuse is refused here with the same text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from app.domain.config import parse_exchange_config
from app.domain.errors import BadInput
from app.domain.streams.model import FULL, StreamRequest, SubscriptionRejected, View
from app.domain.validation import (
    check_params,
    field_error,
    optional_depth,
    optional_history,
    printable,
    require_credentials,
    require_symbol,
    stream_format,
    timeframe_or_default,
)
from app.ports.exchange_gateway import DATA_TYPES

MISSING_PARAMETERS = "Missing required parameters"
TIMEFRAME_REQUIRED = "Timeframe is required for OHLCV subscription"
CREDENTIALS_REQUIRED = "API credentials required for balance watching"
MAX_FIELD_LENGTH = 100

__all__ = ["parse_subscription", "parse_view", "printable"]


def parse_view(payload: Any, data_type: str) -> View:
    """The opt-in fields of a subscribe payload: ``format``, ``depth``, ``history``.

    Raises:
        SubscriptionRejected: a bad value, or a field the data type does not take
            (the shared rules of ``app.domain.validation``).
    """
    if not isinstance(payload, Mapping):
        return FULL
    try:
        return View(
            format=stream_format(payload.get("format"), data_type),
            depth=optional_depth(payload.get("depth"), data_type),
            history=optional_history(payload.get("history"), data_type),
        )
    except BadInput as exc:
        raise SubscriptionRejected(exc.details, error_type=exc.error_type) from None


def parse_subscription(
    payload: Any, *, is_known_exchange: Callable[[str], bool], streaming: bool = True
) -> StreamRequest:
    """Check a subscribe payload ``{exchangeId, symbol, dataType, timeframe?, config, params?}``.

    Args:
        payload: whatever the client sent.
        is_known_exchange: tells whether an exchange id is served by some backend.
        streaming: a Socket.IO subscription is a stream by definition, so its instance is a
            streaming one (``ccxtType`` "pro") whatever the config says.

    Returns:
        The request with ``symbol`` as sent and ``timeframe`` set for ohlcv only (the sent
        timeframe of another type is echoed by the caller, it names no stream).

    Raises:
        SubscriptionRejected: with the client-facing text and the shared rule's errorType.
    """
    try:
        return _parse(payload, is_known_exchange, streaming)
    except SubscriptionRejected:
        raise
    except BadInput as exc:
        raise SubscriptionRejected(exc.details, error_type=exc.error_type) from None


def _parse(
    payload: Any, is_known_exchange: Callable[[str], bool], streaming: bool
) -> StreamRequest:
    if not isinstance(payload, Mapping):
        raise SubscriptionRejected(MISSING_PARAMETERS)
    exchange_id = payload.get("exchangeId")
    symbol = payload.get("symbol")
    data_type = payload.get("dataType")
    if data_type == "balance" and symbol is None:
        symbol = ""
    if (
        not exchange_id
        or not data_type
        or (symbol is None or (symbol == "" and data_type != "balance"))
    ):
        raise SubscriptionRejected(MISSING_PARAMETERS)
    for name, value in (("exchangeId", exchange_id), ("dataType", data_type)):
        if not isinstance(value, str) and (same := field_error(name)) is not None:
            raise SubscriptionRejected(same)  # the text REST gives this field's wrong type
        if not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH or not value.isprintable():
            raise SubscriptionRejected(
                f"{name} must be a string of at most {MAX_FIELD_LENGTH} characters"
            )
    if data_type not in DATA_TYPES:
        raise SubscriptionRejected(f"Unsupported data type: {printable(data_type)}")
    if data_type != "balance":
        symbol = require_symbol(symbol)
    raw_timeframe = payload.get("timeframe")
    if data_type == "ohlcv" and (raw_timeframe is None or raw_timeframe == ""):
        raise SubscriptionRejected(TIMEFRAME_REQUIRED)
    timeframe = None if raw_timeframe in (None, "") else timeframe_or_default(raw_timeframe)
    if data_type == "balance":
        check_params(payload.get("params"), sets=frozenset())
    else:
        check_params(payload.get("params"))
    raw_config = payload.get("config")
    if raw_config is None:
        raw_config = {"exchangeId": exchange_id}
    config = parse_exchange_config(raw_config, is_known_exchange=is_known_exchange)
    if config.exchange_id != exchange_id:
        raise SubscriptionRejected("exchangeId and config.exchangeId differ")
    if streaming and config.ccxt_type != "pro":
        config = dataclasses.replace(config, ccxt_type="pro")
    if data_type == "balance":
        require_credentials(config, CREDENTIALS_REQUIRED)
    return StreamRequest(
        config=config,
        data_type=data_type,
        symbol=symbol,
        timeframe=timeframe if data_type == "ohlcv" else None,
    )
