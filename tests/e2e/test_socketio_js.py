"""The seed's JavaScript example, run with the official socket.io-client 4.x against us."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import pytest

from app.testing.fakes import FakeBackend
from tests.e2e.js_client import JS_DIR, ensure_node_modules, node_or_none
from tests.support.app import TOKEN, make_app, make_settings
from tests.support.server import running_server

NODE = node_or_none()
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: JS client e2e skipped")


@pytest.fixture(scope="session")
def js_ready() -> None:
    ensure_node_modules()


@pytest.fixture
def binance() -> FakeBackend:
    """A fake backend answering for "binance", the exchange id the seed example uses."""
    return FakeBackend(name="fake", exchange_ids=frozenset({"binance"}))


@pytest.fixture
async def url(binance: FakeBackend) -> AsyncIterator[str]:
    async with running_server(make_app(make_settings(), [binance])) as base:
        yield base


async def keep_pushing(backend: FakeBackend, stop: asyncio.Event) -> None:
    """Plays the exchange: a ticker every 50 ms while someone watches (at most 20 s)."""
    for _ in range(400):
        if stop.is_set():
            return
        for gw in backend.created:
            if gw.pending_watchers("ticker", "BTC/USDT"):
                gw.push("ticker", "BTC/USDT", gw.ticker_for("BTC/USDT"))
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("transports", ["", "websocket", "polling"])
async def test_seed_javascript_example(
    js_ready: None, url: str, binance: FakeBackend, transports: str
) -> None:
    assert NODE is not None
    env = {**os.environ, "SERVER_URL": url, "API_TOKEN": TOKEN, "TRANSPORTS": transports}
    stop = asyncio.Event()
    pusher = asyncio.create_task(keep_pushing(binance, stop))
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(JS_DIR / "seed_example.mjs"),
        cwd=JS_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        stop.set()
        await pusher
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, (stdout, stderr)
    seen = json.loads(stdout.decode().strip().splitlines()[-1])
    assert seen["authenticated"] is True
    subscription_id = seen["subscribed"]["subscriptionId"]
    assert subscription_id.endswith(":binance:BTC/USDT:ticker")
    data = seen["data"]
    assert data["subscriptionId"] == subscription_id
    assert data["dataType"] == "ticker" and data["exchange"] == "binance"
    assert data["symbol"] == "BTC/USDT" and data["data"]["symbol"] == "BTC/USDT"
    assert isinstance(data["timestamp"], int)
    assert seen["unsubscribed"] == {"subscriptionId": subscription_id}
    assert seen["errors"] == []
