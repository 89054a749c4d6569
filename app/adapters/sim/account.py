"""Simulated balances: a deterministic account per API key, with a little activity over time."""

from __future__ import annotations

from collections.abc import Iterable

from app.ports.exchange_gateway import Json

from .history import iso
from .rng import unit

_TYPICAL: dict[str, float] = {"USDT": 10_000.0, "USDC": 10_000.0, "BTC": 0.5, "ETH": 5.0}
ACTIVITY_BUCKET_MS = 1000
"""How often the locked ("used") part of each holding changes, as orders come and go."""


def currencies_of(symbols: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for symbol in symbols:
        pair, _, settle = symbol.partition(":")
        base, _, quote = pair.partition("/")
        found.update(c for c in (base, quote, settle) if c)
    return sorted(found)


def balance(seed: int, api_key: str, currencies: list[str], now: int) -> Json:
    """``free + used == total`` for every currency; totals depend only on (seed, api key)."""
    result: Json = {"info": {"simulated": True}, "timestamp": now, "datetime": iso(now)}
    free_map: dict[str, float] = {}
    used_map: dict[str, float] = {}
    total_map: dict[str, float] = {}
    bucket = now // ACTIVITY_BUCKET_MS
    for currency in currencies:
        typical = _TYPICAL.get(currency, 100.0)
        # In integer units of 1e-8, so free + used == total up to float representation.
        total_units = int(typical * 1e8 * (0.2 + 1.6 * unit(seed, "holding", api_key, currency)))
        used_units = int(total_units * 0.3 * unit(seed, "locked", api_key, currency, bucket))
        total, used = total_units / 1e8, used_units / 1e8
        free = (total_units - used_units) / 1e8
        free_map[currency], used_map[currency], total_map[currency] = free, used, total
        result[currency] = {"free": free, "used": used, "total": total}
    result["free"], result["used"], result["total"] = free_map, used_map, total_map
    return result
