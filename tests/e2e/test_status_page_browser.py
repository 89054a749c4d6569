"""The status page in a real headless browser (Debian's chromium): opened as
``/status#token=...`` it renders a live stream that a Socket.IO client started, and a
/metrics scrape shows the same stream."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.entrypoints.asgi import create_app
from tests.e2e.socketio_client import EventClient
from tests.support.app import AUTH, TOKEN, make_settings
from tests.support.server import running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (scripts/bootstrap --test installs it as root with apt-get)",
)


@pytest.fixture
async def sim_url() -> AsyncIterator[str]:
    settings = make_settings(exchanges={"sim": {"options": {"tick_hz": 20}}}, socket_port=0)
    async with running_server(create_app(settings)) as url:
        yield url


async def dump_dom(url: str, profile: Path) -> str:
    """The DOM after the page ran its scripts (chromium --headless --dump-dom, bounded)."""
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=4000",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return out.decode()


async def test_status_page_shows_a_stream_started_over_socketio(
    sim_url: str, tmp_path: Path
) -> None:
    client = EventClient()
    await client.connect(sim_url, auth={"token": TOKEN})
    try:
        await client.emit(
            "subscribe",
            {
                "exchangeId": "sim",
                "symbol": "ETH/USDT",
                "dataType": "ticker",
                "config": {"exchangeId": "sim"},
            },
        )
        await client.expect("subscribed")
        await client.expect("data", timeout=5)  # live: an update arrived

        dom = await dump_dom(f"{sim_url}/status#token={TOKEN}", tmp_path / "profile")
        row = re.search(r'<tr data-stream="sim ticker ETH/USDT">(.*?)</tr>', dom, re.DOTALL)
        assert row, dom[:2000]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        assert cells[:3] == ["sim", "ticker", "ETH/USDT"]
        assert cells[4] == "1"  # one subscriber
        assert cells[6].endswith(" s")  # the age of the last update
        assert 'data-state="live"' in dom
        assert re.search(r'<form id="login" hidden', dom)  # the form hides once a token is in
        assert TOKEN not in dom  # the page never writes the token into the document

        # Without a token the page asks for one and shows no data.
        blank = await dump_dom(f"{sim_url}/status", tmp_path / "profile-2")
        assert 'id="login"' in blank and "ETH/USDT" not in blank

        async with httpx.AsyncClient(base_url=sim_url, headers=AUTH) as http:
            text = (await http.get("/metrics")).text
        assert (
            re.search(
                r'profitmaker_stream_last_update_age_seconds\{data_type="ticker",exchange="sim",'
                r'symbol="ETH/USDT",timeframe=""\} ',
                text,
            )
            or 'symbol="ETH/USDT"' in text
        )
        assert 'profitmaker_stream_subscribers{data_type="ticker"} 1.0' in text
    finally:
        await client.close()


async def test_api_docs_render_offline_in_the_browser(sim_url: str, tmp_path: Path) -> None:
    """Swagger UI renders the OpenAPI 3.1 schema from locally served files (no CDN)."""
    dom = await dump_dom(f"{sim_url}/schema", tmp_path / "profile")
    assert "Unable to render" not in dom
    assert "/api/exchange/fetchTicker" in dom and "OAS 3.1" in dom
