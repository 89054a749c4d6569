"""The budget's HTTP surface on a fake backend: headers on every fetch*, maxAgeMs, OpenAPI."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from app.testing.fakes import FakeBackend
from tests.support.app import AUTH

Client = AsyncTestClient[Any]
CONFIG = {"exchangeId": "fake"}
READS = {
    "fetchTicker": {"config": CONFIG, "symbol": "BTC/USDT"},
    "fetchOrderBook": {"config": CONFIG, "symbol": "BTC/USDT", "limit": 5},
    "fetchTrades": {"config": CONFIG, "symbol": "BTC/USDT"},
    "fetchOHLCV": {"config": CONFIG, "symbol": "BTC/USDT"},
    "capabilities": {"config": CONFIG},
}


async def test_every_read_says_where_its_data_came_from(client: Client) -> None:
    for path, body in READS.items():
        response = await client.post(f"/api/exchange/{path}", json=body, headers=AUTH)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["X-Data-Source"] == "exchange", path
        assert int(response.headers["X-Data-Age-Ms"]) >= 0
        assert set(response.json()) == {"success", "data"}  # body unchanged


async def test_the_second_read_comes_from_the_cache_and_max_age_zero_asks_again(
    client: Client, fake_backend: FakeBackend
) -> None:
    body = READS["fetchOHLCV"]  # ohlcv: 1,000 ms window by default
    first, second = [
        await client.post("/api/exchange/fetchOHLCV", json=body, headers=AUTH) for _ in range(2)
    ]
    assert (first.headers["X-Data-Source"], second.headers["X-Data-Source"]) == (
        "exchange",
        "cache",
    )
    assert first.json() == second.json()
    gateway = fake_backend.created[0]
    assert gateway.calls["fetch_ohlcv"] == 1
    fresh = await client.post(
        "/api/exchange/fetchOHLCV", json={**body, "maxAgeMs": 0}, headers=AUTH
    )
    assert fresh.headers["X-Data-Source"] == "exchange" and gateway.calls["fetch_ohlcv"] == 2


async def test_bad_max_age_is_bad_input(client: Client) -> None:
    for bad in (-1, "soon", 1.5):
        response = await client.post(
            "/api/exchange/fetchTicker",
            json={**READS["fetchTicker"], "maxAgeMs": bad},
            headers=AUTH,
        )
        assert response.status_code == 400, bad
        assert response.json()["error"] == "Failed to fetch ticker"
        assert response.json()["errorType"] == "BadInput"


async def test_openapi_documents_the_headers_max_age_and_the_budget_page(client: Client) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    for path in READS:
        ok = spec["paths"][f"/api/exchange/{path}"]["post"]["responses"]["200"]
        assert {"X-Data-Source", "X-Data-Age-Ms"} <= set(ok.get("headers", {})), path
    assert "/api/budget" in spec["paths"]
    assert "maxAgeMs" in str(spec["components"]["schemas"])


async def test_budget_page_counts_reads_by_source(client: Client) -> None:
    for _ in range(2):
        await client.post("/api/exchange/fetchOHLCV", json=READS["fetchOHLCV"], headers=AUTH)
    page = await client.get("/api/budget", headers=AUTH)
    assert page.status_code == 200
    data = page.json()["data"]
    assert data["enabled"] is True
    assert data["exchanges"]["fake"]["reads"] == {
        "exchange": 1,
        "coalesced": 0,
        "cache": 1,
        "stream": 0,
    }
