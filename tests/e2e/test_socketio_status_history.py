"""Issue 13 end to end: ``status`` stale then live around an exchange pause (ccxt.pro binance
emulator), and ``history`` candles first on the simulated exchange. (Candles across a dropped
exchange with the JS client: test_socketio_status_candles_js.py.)"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.entrypoints.asgi import create_app
from tests.e2e.socketio_client import EventClient
from tests.emulator import BinanceEmulator
from tests.emulator.fixtures import binance_emulator  # noqa: F401
from tests.support.app import TOKEN, make_settings
from tests.support.server import running_server


@pytest.fixture
async def pro_url(binance_emulator: BinanceEmulator) -> AsyncIterator[str]:  # noqa: F811
    overrides = binance_emulator.overrides(pro=True, enableRateLimit=False)
    settings = make_settings(
        exchanges={"binance": {"ccxt": overrides}},
        streams={"watchdog_seconds": {"ticker": 1.0}, "retry_initial_seconds": 0.05},
    )
    async with running_server(create_app(settings)) as url:
        yield url


async def test_stale_then_live_around_an_exchange_pause(
    pro_url: str,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    client = EventClient()
    await client.connect(pro_url, auth={"token": TOKEN})
    try:
        await client.emit(
            "subscribe",
            {
                "exchangeId": "binance",
                "symbol": "BTC/USDT",
                "dataType": "ticker",
                "config": {"exchangeId": "binance"},
            },
        )
        subscription_id = (await client.expect("subscribed", timeout=10))["subscriptionId"]
        await client.expect("data", timeout=5)
        assert await client.nothing("status", 0.2)  # live from the start: no event
        binance_emulator.ws.silent = True
        stale = await client.expect("status", timeout=5)
        assert stale == {
            "subscriptionId": subscription_id,
            "state": "stale",
            "reason": "No data from the exchange for 1s; restarting the stream",
        }
        error = await client.expect("error", timeout=2)  # the existing event stays
        assert error["subscriptionId"] == subscription_id
        recovering = await client.expect("status", timeout=2)
        assert recovering["state"] == "recovering"
        binance_emulator.ws.silent = False
        states = []
        for _ in range(10):
            status = await client.expect("status", timeout=5)
            states.append(status["state"])
            if status["state"] == "live":
                break
        assert states[-1] == "live"
        while not client.queues["data"].empty():  # updates before and during the pause
            client.queues["data"].get_nowait()
        assert (await client.expect("data", timeout=5))["subscriptionId"] == subscription_id
    finally:
        await client.close()


@pytest.fixture
async def sim_url() -> AsyncIterator[str]:
    settings = make_settings(exchanges={"sim": {"options": {"tick_hz": 20}}})
    async with running_server(create_app(settings)) as url:
        yield url


async def test_history_candles_come_first_then_live_ones(sim_url: str) -> None:
    client, running = EventClient(), EventClient()
    await client.connect(sim_url, auth={"token": TOKEN})
    await running.connect(sim_url, auth={"token": TOKEN})
    try:
        payload: dict[str, Any] = {
            "exchangeId": "sim",
            "symbol": "BTC/USDT",
            "dataType": "ohlcv",
            "timeframe": "1m",
            "config": {"exchangeId": "sim"},
        }
        await client.emit("subscribe", {**payload, "history": 0})
        refused = await client.expect("subscription_error", timeout=5)
        assert refused["error"] == "history must be >= 1"
        await running.emit("subscribe", payload)  # the stream runs before the history joins
        await running.expect("subscribed", timeout=10)
        await running.expect("data", timeout=10)
        await client.emit("subscribe", {**payload, "history": 50})
        await client.expect("subscribed", timeout=10)
        first = await client.expect("data", timeout=10)
        assert first["cached"] is True  # a joiner of a running stream (fresh: tests/unit)
        opens = [row[0] for row in first["data"]]
        assert len(opens) == 51  # 50 closed + the current one
        assert all(b - a == 60_000 for a, b in itertools.pairwise(opens))
        live = await client.expect("data", timeout=10)
        assert "cached" not in live
        # the last history row is the live candle (or it closed just now and the next began)
        assert live["data"][0][0] in (opens[-1], opens[-1] + 60_000)
        # the simulator answers at most 1,000 rows a request: 1,000 closed + 1 all the same
        await running.emit("subscribe", {**payload, "timeframe": "5m", "history": 1000})
        long_id = (await running.expect("subscribed", timeout=10))["subscriptionId"]
        event = await running.expect("data", timeout=10)
        while event["subscriptionId"] != long_id:  # the 1m subscription's live candles
            event = await running.expect("data", timeout=10)
        long = [row[0] for row in event["data"]]
        assert len(long) == 1001
        assert all(b - a == 300_000 for a, b in itertools.pairwise(long))
    finally:
        await client.close()
        await running.close()
