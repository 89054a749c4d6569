"""The recording this backend replays, loaded once from the package data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any


@dataclass(frozen=True)
class Recording:
    exchange: str
    recorded_until: int
    symbols: dict[str, dict[str, Any]]


@cache
def load_recording() -> Recording:
    raw = json.loads(files(__package__).joinpath("data/replay.json").read_text("utf-8"))
    return Recording(raw["exchange"], raw["recorded_until"], raw["symbols"])


def iso(ms: int) -> str:
    text = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def trade_json(symbol: str, row: list[Any], index: int) -> dict[str, Any]:
    timestamp, price, amount, side = row
    return {
        "id": str(index),
        "order": None,
        "info": {},
        "timestamp": timestamp,
        "datetime": iso(timestamp),
        "symbol": symbol,
        "type": None,
        "side": side,
        "takerOrMaker": "taker",
        "price": price,
        "amount": amount,
        "cost": price * amount,
        "fee": None,
        "fees": [],
    }
