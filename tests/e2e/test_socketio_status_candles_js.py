"""Issue 13 with the official JavaScript client (``tests/e2e/js/stream_events.mjs``) on the
binance emulator (ccxt.pro): ``stale`` then ``live`` around an exchange pause, told once
however many watchdog restarts the pause lasts; a joiner of a running slow ticker gets its
first data at once (cached); 1s candles with ``history: 50`` across a forced drop of every
exchange socket and a ~3 s outage: no gap and no duplicate, the missed candles from REST."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from app.entrypoints.asgi import create_app
from tests.e2e.js_client import JsSubscriber, ensure_node_modules, node_or_none
from tests.emulator import BinanceEmulator
from tests.support.app import TOKEN, make_settings
from tests.support.server import running_server

NODE = node_or_none()
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: JS client e2e skipped")


@pytest.fixture(scope="session")
def js_ready() -> None:
    ensure_node_modules()


@asynccontextmanager
async def served(emulator: BinanceEmulator, **streams: Any) -> AsyncIterator[str]:
    overrides = emulator.overrides(pro=True, enableRateLimit=False)
    settings = make_settings(
        exchanges={"binance": {"ccxt": overrides}},
        streams={"retry_initial_seconds": 0.05, "retry_max_seconds": 0.5, **streams},
    )
    async with running_server(create_app(settings)) as url:
        yield url


def payload(data_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "exchangeId": "binance",
        "symbol": "BTC/USDT",
        "dataType": data_type,
        "config": {"exchangeId": "binance"},
        **extra,
    }


def subscribes(emulator: BinanceEmulator, channel: str) -> Callable[[], int]:
    def count() -> int:
        return sum(
            1 for e in emulator.ws.events("subscribe") if any(channel in s for s in e.streams)
        )

    return count


async def test_stale_then_live_told_once_around_a_pause_of_several_watchdog_periods(
    js_ready: None,
) -> None:
    assert NODE is not None
    async with (
        BinanceEmulator(ws_interval=0.1) as emulator,
        served(emulator, watchdog_seconds={"ticker": 1.0}) as url,
        JsSubscriber(NODE, url, TOKEN, payload("ticker")) as client,
    ):
        subscription_id = (await client.expect("subscribed", timeout=15))["subscriptionId"]
        await client.expect("data", timeout=10)
        await emulator.ws.pause()
        stale = await client.expect("status", timeout=10)
        assert stale == {
            "subscriptionId": subscription_id,
            "state": "stale",
            "reason": "No data from the exchange for 1s; restarting the stream",
        }
        assert (await client.expect("status", timeout=5))["state"] == "recovering"
        # Still silent over three more watchdog restarts (each one subscribes again).
        restarts = subscribes(emulator, "icker")  # @ticker or @miniTicker
        before = restarts()
        await emulator.ws.wait_until(lambda: restarts() >= before + 3, timeout=20)
        emulator.ws.resume()
        assert (await client.expect("status", timeout=10))["state"] == "live"
        after_live = await client.expect("data", timeout=10)
        assert after_live["subscriptionId"] == subscription_id
        states = [s["state"] for s in client.events("status")]
        assert states == ["stale", "recovering", "live"]  # once per outage, not per restart
        assert len(client.events("error")) >= 4  # the error event per restart stays
        # the order: live before the first data after the pause
        events = [line["event"] for line in client.seen]
        live_at = next(i for i, line in enumerate(client.seen) if line["payload"] == {
            "subscriptionId": subscription_id, "state": "live", "reason": "Receiving updates"
        })  # fmt: skip
        assert events[live_at + 1 :].count("data") >= 1
        assert "status" not in events[: events.index("data") + 1]  # live from the start


async def test_a_joiner_of_a_running_slow_ticker_gets_data_at_once_cached(
    js_ready: None,
) -> None:
    """The issue's case: a ticker that pushes every 2 s; the joiner does not wait for it."""
    assert NODE is not None
    async with (
        BinanceEmulator(ws_interval=2.0) as emulator,
        served(emulator) as url,
        JsSubscriber(NODE, url, TOKEN, payload("ticker")) as first,
    ):
        await first.expect("subscribed", timeout=15)
        live = await first.expect("data", timeout=10)
        assert "cached" not in live  # the stream's first update, live (positive control)
        async with JsSubscriber(NODE, url, TOKEN, payload("ticker")) as joiner:
            await joiner.expect("subscribed", timeout=15)
            data = await joiner.expect("data", timeout=10)
            subscribed_at, data_at = (
                next(line["at"] for line in joiner.seen if line["event"] == name)
                for name in ("subscribed", "data")
            )
        assert data["cached"] is True and data["data"]["symbol"] == "BTC/USDT"
        assert data_at - subscribed_at < 1000, data_at - subscribed_at  # not the next push


async def test_1s_candles_with_history_across_a_dropped_exchange_have_no_gap(
    js_ready: None,
) -> None:
    assert NODE is not None
    async with (
        BinanceEmulator(real_time=True, ws_interval=0.2) as emulator,
        served(emulator) as url,
        JsSubscriber(NODE, url, TOKEN, payload("ohlcv", timeframe="1s", history=50)) as client,
    ):
        await client.expect("subscribed", timeout=15)
        series: dict[int, list[Any]] = {}
        newest = 0

        def take(event: dict[str, Any]) -> list[int]:
            nonlocal newest
            opens = [row[0] for row in event["data"]]
            assert opens == sorted(set(opens)), opens  # strictly increasing inside an event
            assert not series or opens[0] >= newest, (opens, newest)  # never goes back
            series.update((row[0], row) for row in event["data"])
            newest = max(newest, opens[-1])
            return opens

        first = take(await client.expect("data", timeout=15))
        assert len(first) == 51  # 50 closed + the current one
        assert all(b - a == 1000 for a, b in itertools.pairwise(first))
        while newest < first[-1] + 2000:  # two more candles live
            take(await client.expect("data", timeout=5))
        klines_before = len(klines_requests(emulator))
        dropped_at = time.time() * 1000
        emulator.ws.refuse_for(3.0)  # reconnects are refused: a ~3 s outage
        assert await emulator.ws.drop_all() >= 1
        assert (await client.expect("status", timeout=5))["state"] == "recovering"
        assert (await client.expect("status", timeout=15))["state"] == "live"
        refill = take(await client.expect("data", timeout=5))
        # the event after the restart: the missed candles from REST, then the live one
        missed = [t for t in refill if dropped_at < t < dropped_at + 3000]  # 2 or 3 opens
        assert len(missed) >= 2, (refill, dropped_at)
        fills = klines_requests(emulator)[klines_before:]
        assert any("startTime" in query for query in fills), fills
        resumed = newest
        while newest < resumed + 2000:
            take(await client.expect("data", timeout=5))
        opens = sorted(series)
        assert opens[0] == first[0]
        assert all(b - a == 1000 for a, b in itertools.pairwise(opens)), opens  # no gap
        assert len(opens) >= 51 + 2 + 3 + 2


def klines_requests(emulator: BinanceEmulator) -> list[dict[str, list[str]]]:
    """Query strings of every REST klines request, in order."""
    found = []
    for _method, _host, path_qs in emulator.requests:
        parts = urlsplit(path_qs)
        if parts.path.endswith("/klines"):
            found.append(parse_qs(parts.query))
    return found
