"""REST watch* endpoints: one update of the shared stream, pro only, timeouts, fixed texts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.entrypoints.asgi import Application
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.support.app import AUTH, make_app, make_settings
from tests.support.server import running_server

PRO = {"exchangeId": "fake", "ccxtType": "pro"}
CREDS = {**PRO, "apiKey": "key-123456", "secret": "secret-abcdef"}


@pytest.fixture
def application(fake_backend: FakeBackend) -> Application:
    settings = make_settings(streams={"rest_watch_timeout_seconds": 0.3})
    return make_app(settings, [fake_backend])


@pytest.fixture
async def watch_client(application: Application) -> AsyncIterator[httpx.AsyncClient]:
    # A real server in this event loop: the fake gateway's futures live in the test's loop.
    async with running_server(application) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def post_and_push(
    client: httpx.AsyncClient,
    backend: FakeBackend,
    path: str,
    body: dict[str, Any],
    data_type: str,
    symbol: str,
    data: Any,
    timeframe: str | None = None,
) -> Any:
    request = asyncio.create_task(client.post(path, json=body, headers=AUTH))
    gw = await backend.watching_gateway(data_type, symbol, timeframe)
    gw.push(data_type, symbol, data, timeframe)
    return await request


async def test_watch_ticker_returns_the_next_update(
    watch_client: httpx.AsyncClient, fake_backend: FakeBackend, application: Application
) -> None:
    response = await post_and_push(
        watch_client,
        fake_backend,
        "/api/exchange/watchTicker",
        {"config": PRO, "symbol": "BTC/USDT"},
        "ticker",
        "BTC/USDT",
        {"last": 42},
    )
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"last": 42}}
    await application.container.stream_hub().idle()
    assert application.container.stream_hub().stats()["loops"] == 0


async def test_concurrent_watches_share_one_upstream_read(
    watch_client: httpx.AsyncClient, fake_backend: FakeBackend, application: Application
) -> None:
    body = {"config": PRO, "symbol": "BTC/USDT"}
    requests = [
        asyncio.create_task(watch_client.post("/api/exchange/watchTicker", json=body, headers=AUTH))
        for _ in range(5)
    ]
    hub = application.container.stream_hub()
    await eventually(
        lambda: sum(s.waiters for s in hub.snapshot()) == 5, message="five REST readers parked"
    )
    gw = await fake_backend.watching_gateway("ticker", "BTC/USDT")
    assert gw.pending_watchers("ticker", "BTC/USDT") == 1
    gw.push("ticker", "BTC/USDT", {"last": 1})
    responses = await asyncio.gather(*requests)
    assert [r.json()["data"] for r in responses] == [{"last": 1}] * 5
    assert gw.calls["watch_ticker"] <= 2


async def test_order_book_trades_ohlcv_and_balance(
    watch_client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    book = {"bids": [[3, 1], [2, 1], [1, 1]], "asks": [[4, 1], [5, 1]]}
    response = await post_and_push(
        watch_client,
        fake_backend,
        "/api/exchange/watchOrderBook",
        {"config": PRO, "symbol": "BTC/USDT", "limit": 1},
        "orderbook",
        "BTC/USDT",
        book,
    )
    assert response.json()["data"] == {"bids": [[3, 1]], "asks": [[4, 1]]}
    trades = [{"id": "1", "timestamp": 10}, {"id": "2", "timestamp": 20}]
    response = await post_and_push(
        watch_client,
        fake_backend,
        "/api/exchange/watchTrades",
        {"config": PRO, "symbol": "BTC/USDT", "since": 15},
        "trades",
        "BTC/USDT",
        trades,
    )
    assert response.json()["data"] == [{"id": "2", "timestamp": 20}]
    response = await post_and_push(
        watch_client,
        fake_backend,
        "/api/exchange/watchOHLCV",
        {"config": PRO, "symbol": "BTC/USDT", "timeframe": "5m"},
        "ohlcv",
        "BTC/USDT",
        [[1, 1, 1, 1, 1, 1]],
        timeframe="5m",
    )
    assert response.json()["data"] == [[1, 1, 1, 1, 1, 1]]
    response = await post_and_push(
        watch_client,
        fake_backend,
        "/api/exchange/watchBalance",
        {"config": CREDS},
        "balance",
        "",
        {"total": {"BTC": 1}},
    )
    assert response.status_code == 200 and response.json()["data"] == {"total": {"BTC": 1}}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        (
            "/api/exchange/watchTicker",
            {"config": {"exchangeId": "fake"}, "symbol": "BTC/USDT"},
            400,
            "WebSocket requires CCXT Pro",
        ),
        ("/api/exchange/watchTicker", {"config": PRO}, 400, "Failed to watch ticker"),
        (
            "/api/exchange/watchTicker",
            {"config": PRO, "symbol": "NOPE/X"},
            400,
            "Failed to watch ticker",
        ),
        (
            "/api/exchange/watchOrderBook",
            {"config": {"ccxtType": "pro"}, "symbol": "BTC/USDT"},
            400,
            "Failed to watch orderbook",
        ),
        (
            "/api/exchange/watchBalance",
            {"config": PRO},
            400,
            "API credentials required for balance watching",
        ),
        (
            "/api/exchange/watchTicker",
            {"config": PRO, "symbol": "BTC/USDT"},
            504,
            "Failed to watch ticker",
        ),
        (
            "/api/exchange/watchOHLCV",
            {"config": PRO, "symbol": "BTC/USDT", "timeframe": 5},
            400,
            "Failed to watch OHLCV",
        ),
    ],
)
async def test_watch_errors(
    watch_client: httpx.AsyncClient, path: str, body: Any, status: int, error: str
) -> None:
    response = await watch_client.post(path, json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


async def test_unsupported_watch_names_the_method(
    watch_client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    fake_backend.gateway_kwargs["has"] = {"watchTrades": False}
    response = await watch_client.post(
        "/api/exchange/watchTrades", json={"config": PRO, "symbol": "BTC/USDT"}, headers=AUTH
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Exchange does not support watchTrades"
    assert response.json()["errorType"] == "NotSupported"


async def test_watch_needs_the_bearer_token(watch_client: httpx.AsyncClient) -> None:
    response = await watch_client.post(
        "/api/exchange/watchTicker", json={"config": PRO, "symbol": "BTC/USDT"}
    )
    assert response.status_code == 401


async def test_stream_stats_endpoint(
    watch_client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    empty = await watch_client.get("/api/streams", headers=AUTH)
    assert empty.status_code == 200
    assert empty.json()["data"] == {
        "streams": 0,
        "loops": 0,
        "subscriptions": 0,
        "connections": 0,
        "loopsStarted": 0,
        "node": None,
        "live": [],
    }
    request = asyncio.create_task(
        watch_client.post(
            "/api/exchange/watchTicker", json={"config": PRO, "symbol": "BTC/USDT"}, headers=AUTH
        )
    )
    gw = await fake_backend.watching_gateway("ticker", "BTC/USDT")
    busy = (await watch_client.get("/api/streams", headers=AUTH)).json()["data"]
    assert busy["streams"] == 1 and busy["loops"] == 1 and busy["loopsStarted"] == 1
    # One entry per live stream: the key names no credential; a single process owns it.
    [live] = busy["live"]
    assert live["key"] == "fake:spot:pro:live:public|ticker|BTC/USDT|"
    assert live["owner"] is True and live["subscribers"] == 0 and live["waiters"] == 1
    gw.push("ticker", "BTC/USDT", {"last": 1})
    assert (await request).status_code == 200
    assert (await watch_client.get("/api/streams")).status_code == 401
