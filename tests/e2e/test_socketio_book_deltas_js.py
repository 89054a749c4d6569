"""Issue 13 with the official JavaScript client on the simulated exchange: order book deltas
rebuilt by the client equal the full book of the same update, seq contiguous, resync, depth 20
bounds every event, and a late joiner gets its first data (cached) at once."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

import pytest

from app.entrypoints.asgi import create_app
from tests.e2e.js_client import JS_DIR, ensure_node_modules, node_or_none
from tests.support.app import TOKEN, make_settings
from tests.support.server import running_server

NODE = node_or_none()
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: JS client e2e skipped")


@pytest.fixture(scope="session")
def js_ready() -> None:
    ensure_node_modules()


@pytest.fixture
async def sim_url() -> AsyncIterator[str]:
    settings = make_settings(exchanges={"sim": {"options": {"tick_hz": 10}}})
    async with running_server(create_app(settings)) as url:
        yield url


async def test_book_deltas_rebuild_the_full_book_with_the_js_client(
    js_ready: None, sim_url: str
) -> None:
    assert NODE is not None
    subscribe = {
        "exchangeId": "sim",
        "symbol": "BTC/USDT",
        "dataType": "orderbook",
        "config": {"exchangeId": "sim"},
    }
    env = {
        **os.environ,
        "SOCKET_URL": sim_url,
        "API_TOKEN": TOKEN,
        "SUBSCRIBE": json.dumps(subscribe),
        "RUN_MS": "4000",
    }
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(JS_DIR / "book_deltas.mjs"),
        cwd=JS_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["errors"] == []
    assert summary["events"]["full"] >= 15  # about 10 updates/s for ~3.5 s
    # every update both subscribers of a pair got (not the ones at the very start or end)
    assert summary["compared"] >= 20, summary
    assert summary["mismatches"] == [] and summary["seqErrors"] == []
    assert summary["maxLevels"]["full"] == 50  # the sim's book: depth cuts it server-side
    assert summary["maxLevels"]["full20"] == 20 and summary["maxLevels"]["delta20"] <= 20
    assert summary["kinds"]["delta20"]["delta"] >= 10
    # the first, resync's, and any where a delta would list more than 20 levels a side
    assert summary["kinds"]["delta20"]["snapshot"] >= 2
    assert summary["resync"] == {"answer": "snapshot"}
    join = summary["join"]
    # the cached latest update at once, or (a race at 10 Hz) a live one that came first
    assert join["cached"] is True or join["liveAfterJoin"] is True, join
    assert join["type"] == "snapshot"
    assert join["ms"] < 1000  # at once, not at the next tick; p99 is measured by bench/fanout.py
