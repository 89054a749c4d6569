"""Validation of the loose values a client sends next to a config (symbol, limit, since...)."""

from __future__ import annotations

from typing import Any

from app.domain.errors import BadInput

MAX_SYMBOL_LENGTH = 100


def require_symbol(symbol: Any) -> str:
    if symbol is None or symbol == "":
        raise BadInput("symbol is required")
    if not isinstance(symbol, str):
        raise BadInput("symbol must be a string")
    if len(symbol) > MAX_SYMBOL_LENGTH or not symbol.isprintable():
        raise BadInput("symbol is not a valid market symbol")
    return symbol


def optional_int(value: Any, field: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{field} must be an integer")
    if value < minimum:
        raise BadInput(f"{field} must be >= {minimum}")
    return value


def optional_params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput("params must be a JSON object")
    return value


def timeframe_or_default(value: Any, default: str = "1m") -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > 16 or not value.isalnum():
        raise BadInput("timeframe must be a string like 1m, 1h or 1d")
    return value
