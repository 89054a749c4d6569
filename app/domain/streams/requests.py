"""Validation of a client's subscribe payload into a StreamRequest (contract section 3 texts)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from app.domain.config import parse_exchange_config
from app.domain.errors import BadInput
from app.domain.streams.model import StreamRequest, SubscriptionRejected
from app.ports.exchange_gateway import DATA_TYPES

MISSING_PARAMETERS = "Missing required parameters"
TIMEFRAME_REQUIRED = "Timeframe is required for OHLCV subscription"
CREDENTIALS_REQUIRED = "API credentials required for balance watching"
MAX_FIELD_LENGTH = 100


def printable(value: Any, limit: int = 64) -> str:
    """Echo an untrusted value back safely: bounded, printable, never a container's repr."""
    text = value if isinstance(value, str) else type(value).__name__
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


def parse_subscription(
    payload: Any, *, is_known_exchange: Callable[[str], bool], streaming: bool = True
) -> StreamRequest:
    """Check a subscribe payload ``{exchangeId, symbol, dataType, timeframe?, config}``.

    Args:
        payload: whatever the client sent.
        is_known_exchange: tells whether an exchange id is served by some backend.
        streaming: a Socket.IO subscription is a stream by definition, so its instance is a
            streaming one (``ccxtType`` "pro") whatever the config says.

    Raises:
        SubscriptionRejected: with the client-facing text.
    """
    if not isinstance(payload, Mapping):
        raise SubscriptionRejected(MISSING_PARAMETERS)
    exchange_id = payload.get("exchangeId")
    symbol = payload.get("symbol")
    data_type = payload.get("dataType")
    if data_type == "balance" and symbol is None:
        symbol = ""
    if not exchange_id or not data_type or (symbol is None or (symbol == "" and data_type != "balance")):
        raise SubscriptionRejected(MISSING_PARAMETERS)
    for name, value in (("exchangeId", exchange_id), ("symbol", symbol), ("dataType", data_type)):
        if not isinstance(value, str) or len(value) > MAX_FIELD_LENGTH or not value.isprintable():
            raise SubscriptionRejected(f"{name} must be a string of at most {MAX_FIELD_LENGTH} characters")
    if data_type not in DATA_TYPES:
        raise SubscriptionRejected(f"Unsupported data type: {printable(data_type)}")
    timeframe = payload.get("timeframe")
    if timeframe is not None and timeframe != "":
        if not isinstance(timeframe, str) or len(timeframe) > 16 or not timeframe.isalnum():
            raise SubscriptionRejected("timeframe must be a string like 1m, 1h or 1d")
    else:
        timeframe = None
    if data_type == "ohlcv" and timeframe is None:
        raise SubscriptionRejected(TIMEFRAME_REQUIRED)
    raw_config = payload.get("config")
    if raw_config is None:
        raw_config = {"exchangeId": exchange_id}
    try:
        config = parse_exchange_config(raw_config, is_known_exchange=is_known_exchange)
    except BadInput as exc:
        raise SubscriptionRejected(exc.details, error_type=exc.error_type) from None
    if config.exchange_id != exchange_id:
        raise SubscriptionRejected("exchangeId and config.exchangeId differ")
    if streaming and config.ccxt_type != "pro":
        config = dataclasses.replace(config, ccxt_type="pro")
    if data_type == "balance":
        creds = config.credentials
        if not (creds.api_key and creds.secret):
            raise SubscriptionRejected(CREDENTIALS_REQUIRED, error_type="CredentialsRequired")
    return StreamRequest(
        config=config,
        data_type=data_type,
        symbol=symbol,
        timeframe=timeframe if data_type == "ohlcv" else None,
    )
