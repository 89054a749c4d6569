"""Issue 13 acceptance with the official JavaScript client on the binance emulator (ccxt.pro):
30 s of a moving book rebuilt from snapshot + deltas and compared with a ``full`` subscriber
of the same update, then with the server's REST fetchOrderBook while the emulator is paused;
seq contiguous; ``resync``; ``depth: 20`` bounds every event; full and delta of one book on
one socket; a late joiner's first data (cached) at once; ``stale`` then ``recovering`` when the
paused book falls silent, ``live`` after it, and a snapshot after the restart.

The script ``tests/e2e/js/book_rebuild.mjs`` and this test talk one JSON object per line.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.entrypoints.asgi import create_app
from tests.e2e.js_client import JS_DIR, ensure_node_modules, node_or_none
from tests.emulator import BinanceEmulator
from tests.support.app import TOKEN, make_settings
from tests.support.server import running_server

NODE = node_or_none()
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: JS client e2e skipped")

RUN_MS = 30_000
WATCHDOG_S = 2.0
BOOK_LEVELS = 100
"""The REST snapshot ccxt starts the book from (``watchOrderBookLimit``): a 100-level book."""


@pytest.fixture(scope="session")
def js_ready() -> None:
    ensure_node_modules()


@pytest.fixture
async def emulator() -> AsyncIterator[BinanceEmulator]:
    async with BinanceEmulator(moving_book=True, ws_interval=0.1) as emulator:  # 10 Hz
        yield emulator


@pytest.fixture
async def url(emulator: BinanceEmulator) -> AsyncIterator[str]:
    overrides = emulator.overrides(
        pro=True, enableRateLimit=False, options={"watchOrderBookLimit": BOOK_LEVELS}
    )
    settings = make_settings(
        exchanges={"binance": {"ccxt": overrides}},
        streams={"watchdog_seconds": {"orderbook": WATCHDOG_S}, "retry_initial_seconds": 0.05},
    )
    async with running_server(create_app(settings)) as url:
        yield url


class Script:
    """The node process: JSON lines out (``read``), JSON lines in (``send``)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            assert self.process.stderr is not None
            stderr = await self.process.stderr.read()
            raise AssertionError(f"the script ended: {stderr.decode()[-2000:]}")
        message: dict[str, Any] = json.loads(line)
        return message

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()


async def test_a_moving_book_rebuilt_from_deltas_for_30_s_equals_full_and_rest(
    js_ready: None, url: str, emulator: BinanceEmulator
) -> None:
    assert NODE is not None
    subscribe = {
        "exchangeId": "binance",
        "symbol": "BTC/USDT",
        "dataType": "orderbook",
        "config": {"exchangeId": "binance"},
    }
    env = {
        **os.environ,
        "SOCKET_URL": url,
        "API_TOKEN": TOKEN,
        "SUBSCRIBE": json.dumps(subscribe),
        "RUN_MS": str(RUN_MS),
    }
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(JS_DIR / "book_rebuild.mjs"),
        cwd=JS_DIR,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    script = Script(process)
    try:
        run_done = await script.read(timeout=RUN_MS / 1000 + 30)
        assert run_done["phase"] == "run-done", run_done
        await emulator.ws.pause()  # the book stands still, over REST and the stream alike
        await script.send({"paused": emulator.ws.last_update_id("BTCUSDT")})
        stale_seen = await script.read(timeout=30)
        assert stale_seen.get("phase") == "stale-seen", stale_seen
        # (A silence over several watchdog periods is told once: see test_socketio_status_js;
        # a book cannot show it here, as ccxt's REST snapshot on each restart is an update.)
        emulator.ws.resume()
        await script.send({"resumed": True})
        summary = (await script.read(timeout=30))["summary"]
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, summary["errors"]
    assert summary["errors"] == [], summary["errors"]

    # full and delta of one book on one socket: four subscriptions, four ids
    ids = summary["ids"]
    assert len(set(ids.values())) == 4
    assert ids["full"].endswith(":binance:BTC/USDT:orderbook")  # the original id, unchanged
    assert ids["delta20"] == ids["full"] + ":delta:depth=20"  # same socket id as full

    # 30 s of a moving book: every pair compared equal, seq contiguous
    assert summary["mismatches"] == [] and summary["seqErrors"] == []
    assert summary["compared"] >= 200, summary["compared"]  # ~300 updates x 2 pairs at 10 Hz
    assert summary["kinds"]["delta"]["delta"] >= 100
    assert summary["kinds"]["delta20"]["delta"] >= 100

    # depth 20 bounds every event (deltas included); full has the whole 100-level book
    assert summary["maxLevels"]["full20"] == 20 and summary["maxLevels"]["delta20"] <= 20
    assert 20 < summary["maxLevels"]["full"] <= BOOK_LEVELS

    # resync: a snapshot at once (the next event, or the one already on its way)
    assert summary["resync"]["answer"] == "snapshot"
    assert summary["resync"]["eventsUntilSnapshot"] <= 2

    # a late joiner of the running stream: its first data at once, cached, a snapshot
    join = summary["join"]
    # (or, a race at 10 Hz, a live update that reached it before its greeting: at once too)
    assert join["cached"] is True or join["liveAfterJoin"] is True, join
    assert join["type"] == "snapshot" and join["seq"] == 1
    assert join["levels"] <= 20
    assert join["ms"] < 1000  # p99 is measured by bench/fanout.py

    # paused: every view equals the exchange's REST book (asked of the exchange, not a cache)
    rest = summary["rest"]
    assert rest["status"] == 200 and rest["source"] == "exchange", rest
    assert rest["fullEqualsRest"] and rest["deltaEqualsRest"], rest
    assert rest["full20EqualsRest"] and rest["delta20EqualsRest"], rest

    # status: nothing while live; stale and recovering once the pause is found; live once
    # after it; a fresh snapshot after the restart
    # (each restart of a book fetches ccxt's REST snapshot, an update: so a long pause may
    # show stale, recovering, live more than once, each outage told once and in order)
    for name in ("full", "full20", "delta", "delta20"):
        statuses = summary["statuses"][name]
        states = [s["state"] for s in statuses]
        assert statuses[0] == {"phase": "paused", "state": "stale"}, (name, statuses)
        assert len(states) % 3 == 0, (name, statuses)
        assert states == ["stale", "recovering", "live"] * (len(states) // 3), (name, statuses)
    assert summary["errorEvents"] >= 4  # the error event per restart stays
    assert summary["afterRestart"] == {"delta": True, "delta20": True}
    assert summary["comparedAfterResume"] >= 10
