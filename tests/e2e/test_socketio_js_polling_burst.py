"""The official socket.io-client over long-polling: a burst of emits is answered in full.

socket.io-client packs every event emitted while a POST is in flight into the next POST;
python-engineio as it comes dropped a POST of more than 16 packets (issue 10 item 9).
"""

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
async def url() -> AsyncIterator[str]:
    async with running_server(make_app(make_settings(), [FakeBackend()])) as base:
        yield base


@pytest.mark.parametrize("count", [18, 40])
async def test_every_subscribe_of_a_polling_burst_is_answered(
    js_ready: None, url: str, count: int
) -> None:
    assert NODE is not None
    env = {**os.environ, "SERVER_URL": url, "API_TOKEN": TOKEN, "COUNT": str(count)}
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(JS_DIR / "polling_burst.mjs"),
        cwd=JS_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    seen = json.loads(stdout.decode().strip().splitlines()[-1])
    assert process.returncode == 0, (seen, stderr.decode()[-2000:])
    assert sorted(seen["symbols"]) == sorted(f"S{i}/USDT" for i in range(count))
    assert seen["disconnects"] == []
