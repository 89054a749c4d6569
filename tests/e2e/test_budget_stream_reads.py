"""Stream-backed REST reads (issue 9.3): while a Socket.IO stream of the same data runs and is
fresh, fetchTicker and fetchOrderBook answer from it with no REST call to the exchange.

Real app on ccxt.pro binance against the emulator (REST and WebSocket), python-socketio
clients; the emulator's request counts show what reached the exchange.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.adapters.ccxt.backend import CcxtBackend
from app.settings import ExchangeSettings
from tests.e2e.socketio_client import EventClient
from tests.emulator import BinanceEmulator
from tests.support.app import AUTH, TOKEN, make_app, make_settings
from tests.support.server import running_server

PRO = {"exchangeId": "binance", "ccxtType": "pro"}
REGULAR = {"exchangeId": "binance"}


async def started(url: str) -> EventClient:
    client = EventClient()
    await client.connect(url)
    await client.authenticate(TOKEN)
    return client


async def subscribe(client: EventClient, data_type: str) -> None:
    await client.emit(
        "subscribe",
        {"exchangeId": "binance", "symbol": "BTC/USDT", "dataType": data_type, "config": PRO},
    )
    await client.expect("subscribed", timeout=8)
    await client.expect("data", timeout=8)


@asynccontextmanager
async def serve(emulator: BinanceEmulator, *, full_ticker: bool) -> AsyncIterator[str]:
    overrides = emulator.overrides(pro=True)
    if full_ticker:  # binance's full ticker channel (bid/ask), not ccxt.pro's default miniTicker
        overrides["options"]["watchTickers"] = {"name": "ticker"}
    settings = make_settings()
    settings.exchanges["binance"] = ExchangeSettings(ccxt=overrides)
    settings.ccxt.enable_rate_limit = False
    # Generous windows: a loaded test machine must not turn a live stream into a stale one.
    settings.budget.max_age_ms.update(ticker=5000, orderbook=5000)
    async with running_server(make_app(settings, [CcxtBackend(settings)])) as url:
        yield url


async def post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    response = await http.post(f"/api/exchange/{path}", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return response


async def test_fresh_streams_answer_tickers_and_books_with_no_rest_call() -> None:
    async with BinanceEmulator() as emulator, serve(emulator, full_ticker=True) as url:
        client = await started(url)
        try:
            await subscribe(client, "ticker")
            await subscribe(client, "orderbook")
            rest_before = sum(emulator.counts.values())
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                for _ in range(5):
                    ticker = await post(
                        http, "fetchTicker", {"config": REGULAR, "symbol": "BTC/USDT"}
                    )
                    assert ticker.headers["X-Data-Source"] == "stream"
                    assert ticker.json()["data"]["bid"] is not None
                    book = await post(
                        http,
                        "fetchOrderBook",
                        {"config": REGULAR, "symbol": "BTC/USDT", "limit": 5},
                    )
                    assert book.headers["X-Data-Source"] == "stream"
                    data = book.json()["data"]
                    assert len(data["bids"]) == 5 and len(data["asks"]) == 5
                    assert data["bids"][0][0] > data["bids"][-1][0]
                    assert int(book.headers["X-Data-Age-Ms"]) <= 5000
                assert sum(emulator.counts.values()) == rest_before  # not one REST call
                # deeper than the stream's book (ccxt.pro keeps 1,000 levels): the exchange
                # answers the 5,000 asked for, the stream's 1,000 would cut them silently
                depth_before = emulator.count("/depth")  # the stream's own snapshot
                deep = await post(
                    http,
                    "fetchOrderBook",
                    {"config": REGULAR, "symbol": "BTC/USDT", "limit": 5000},
                )
                assert deep.headers["X-Data-Source"] == "exchange"
                assert len(deep.json()["data"]["bids"]) == 5000
                assert emulator.count("/depth") == depth_before + 1
                # positive control: a symbol without a stream goes to the exchange
                other = await post(http, "fetchTicker", {"config": REGULAR, "symbol": "ETH/USDT"})
                assert other.headers["X-Data-Source"] == "exchange"
                assert emulator.count("/ticker/24hr") == 1
        finally:
            await client.close()


async def test_a_mini_ticker_stream_without_bid_ask_does_not_answer_fetch_ticker() -> None:
    async with BinanceEmulator() as emulator, serve(emulator, full_ticker=False) as url:
        client = await started(url)
        try:
            await subscribe(client, "ticker")
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                ticker = await post(http, "fetchTicker", {"config": REGULAR, "symbol": "BTC/USDT"})
            assert ticker.headers["X-Data-Source"] == "exchange"
            assert ticker.json()["data"]["bid"] is not None  # REST has bid/ask
            assert emulator.count("/ticker/24hr") == 1
        finally:
            await client.close()
