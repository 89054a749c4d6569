"""Regenerates src/profitmaker_example_backend/data/replay.json (run once; the file is committed).

A fixed, hand-rolled recording: one hour of 1m candles, the trades behind them, a ticker and
an order book per symbol. Deliberately simple and independent of profitmaker-server's sim.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTES = 60
TRADES_PER_MINUTE = 4
SYMBOLS = {"BTC/USDT": (42_000.0, 0.1), "ETH/USDT": (2_300.0, 0.01)}


def iso(ms: int) -> str:
    text = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def record(symbol: str, start_price: float, tick: float, rng: random.Random) -> dict[str, object]:
    price = start_price
    trades, candles = [], []
    for minute in range(MINUTES):
        opened = START_MS + minute * 60_000
        rows = []
        for i in range(TRADES_PER_MINUTE):
            price *= math.exp(rng.gauss(0, 0.0007))
            rounded = round(round(price / tick) * tick, 2)
            side = "buy" if rng.random() < 0.5 else "sell"
            amount = round(rng.uniform(0.01, 0.5), 4)
            rows.append([opened + i * 15_000 + rng.randrange(15_000), rounded, amount, side])
        prices = [r[1] for r in rows]
        volume = round(sum(r[2] for r in rows), 4)
        candles.append([opened, prices[0], max(prices), min(prices), prices[-1], volume])
        trades.extend(rows)
    last = trades[-1][1]
    bids = [[round(last - (i + 1) * tick, 2), round(rng.uniform(0.1, 3), 4)] for i in range(20)]
    asks = [[round(last + (i + 1) * tick, 2), round(rng.uniform(0.1, 3), 4)] for i in range(20)]
    return {
        "ticker": {
            "open": candles[0][1],
            "high": max(c[2] for c in candles),
            "low": min(c[3] for c in candles),
            "last": last,
            "bid": bids[0][0],
            "ask": asks[0][0],
            "baseVolume": round(sum(c[5] for c in candles), 4),
        },
        "trades": trades,
        "ohlcv_1m": candles,
        "book": {"bids": bids, "asks": asks},
    }


def main() -> None:
    rng = random.Random(20240101)
    data = {
        "exchange": "example",
        "recorded_until": START_MS + MINUTES * 60_000 - 1,
        "symbols": {s: record(s, p, t, rng) for s, (p, t) in SYMBOLS.items()},
    }
    target = Path(__file__).parents[1] / "src/profitmaker_example_backend/data/replay.json"
    target.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
