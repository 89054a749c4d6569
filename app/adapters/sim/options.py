"""SimOptions: the simulator's settings, read from ``[exchanges.sim] options``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EXCHANGE_ID = "sim"
DEFAULT_SEED = 42
DEFAULT_SYMBOLS: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT")
DEFAULT_TICK_HZ = 2.0
MAX_TICK_HZ = 100.0


@dataclass(frozen=True, slots=True)
class SimOptions:
    """What an operator can tune; every value has a default that works offline."""

    seed: int = DEFAULT_SEED
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    tick_hz: float = DEFAULT_TICK_HZ
    """Updates per second of every stream (each watch call returns the next one)."""

    @property
    def period_ms(self) -> float:
        return 1000.0 / self.tick_hz

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> SimOptions:
        """Validate operator options; ValueError names the offending key."""
        raw = raw or {}
        unknown = set(raw) - {"seed", "symbols", "tick_hz"}
        if unknown:
            raise ValueError(f"unknown sim option(s): {', '.join(sorted(unknown))}")
        seed = raw.get("seed", DEFAULT_SEED)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("sim option seed must be an integer")
        symbols = tuple(raw.get("symbols", DEFAULT_SYMBOLS))
        if not symbols or not all(_valid_symbol(s) for s in symbols):
            raise ValueError('sim option symbols must be a non-empty list like ["BTC/USDT"]')
        tick_hz = raw.get("tick_hz", DEFAULT_TICK_HZ)
        if isinstance(tick_hz, bool) or not isinstance(tick_hz, int | float):
            raise ValueError("sim option tick_hz must be a number")
        if not 0 < tick_hz <= MAX_TICK_HZ:
            raise ValueError(f"sim option tick_hz must be in (0, {MAX_TICK_HZ:g}]")
        return cls(seed=seed, symbols=symbols, tick_hz=float(tick_hz))


def _valid_symbol(symbol: object) -> bool:
    if not isinstance(symbol, str):
        return False
    pair, _, settle = symbol.partition(":")
    base, slash, quote = pair.partition("/")
    return bool(base and slash and quote) and ("/" not in settle)
