"""The whole app, with backends found through entry points, serves sim and the example plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.entrypoints.asgi import create_app
from app.settings import ExchangeSettings
from tests.support.app import AUTH, http_client, make_settings

Client = AsyncTestClient[Any]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    settings = make_settings()
    settings.exchanges["sim"] = ExchangeSettings(options={"tick_hz": 20})
    async with http_client(create_app(settings)) as test_client:
        yield test_client


async def post(client: Client, path: str, body: Any) -> Any:
    return await client.post(f"/api/exchange/{path}", json=body, headers=AUTH)


async def test_fetch_ticker_from_the_simulator(client: Client) -> None:
    body = {"config": {"exchangeId": "sim"}, "symbol": "BTC/USDT"}
    response = await post(client, "fetchTicker", body)
    assert response.status_code == 200, response.text
    ticker = response.json()["data"]
    assert ticker["symbol"] == "BTC/USDT" and ticker["bid"] < ticker["ask"]


async def test_futures_ohlcv_and_capabilities_from_the_simulator(client: Client) -> None:
    config = {"exchangeId": "sim", "marketType": "futures"}
    body = {"config": config, "symbol": "BTC/USDT", "timeframe": "1h", "limit": 3}
    response = await post(client, "fetchOHLCV", body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 3
    caps = (await post(client, "capabilities", {"config": config})).json()["data"]
    assert "BTC/USDT:USDT" in caps["symbols"] and caps["has"]["createOrder"] is False


async def test_simulator_errors_map_to_contract_statuses(client: Client) -> None:
    body = {"config": {"exchangeId": "sim"}, "symbol": "NO/PE"}
    unknown = await post(client, "fetchTicker", body)
    assert unknown.status_code == 400 and unknown.json()["errorType"] == "BadSymbol"
    balance = await post(client, "fetchBalance", {"config": {"exchangeId": "sim"}})
    assert balance.status_code == 400
    assert balance.json()["error"] == "API credentials required for balance"


async def test_watch_ticker_over_rest_from_the_simulator(client: Client) -> None:
    body = {"config": {"exchangeId": "sim", "ccxtType": "pro"}, "symbol": "ETH/USDT"}
    response = await post(client, "watchTicker", body)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["symbol"] == "ETH/USDT"


async def test_backends_endpoint_lists_the_plugins(client: Client) -> None:
    response = await client.get("/api/backends", headers=AUTH)
    assert response.status_code == 200, response.text
    assert "sim" in response.text and "ccxt" in response.text


async def test_fetch_ticker_from_the_example_plugin(client: Client) -> None:
    body = {"config": {"exchangeId": "example"}, "symbol": "BTC/USDT"}
    response = await post(client, "fetchTicker", body)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["last"] > 0
