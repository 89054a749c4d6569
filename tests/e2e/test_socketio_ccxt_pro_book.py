"""Socket.IO order book and candles over ccxt.pro binance (WS emulator), from a "regular" config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.entrypoints.asgi import Application, create_app
from tests.e2e.socketio_client import EventClient
from tests.emulator import BinanceEmulator
from tests.emulator.fixtures import binance_emulator  # noqa: F401
from tests.support.app import TOKEN, make_settings
from tests.support.server import running_server


@pytest.fixture
def pro_app(binance_emulator: BinanceEmulator) -> Application:  # noqa: F811
    overrides = binance_emulator.overrides(pro=True, enableRateLimit=False)
    return create_app(make_settings(exchanges={"binance": {"ccxt": overrides}}))


@pytest.fixture
async def client(pro_app: Application) -> AsyncIterator[EventClient]:
    async with running_server(pro_app) as url:
        client = EventClient()
        await client.connect(url, auth={"token": TOKEN})
        yield client
        await client.close()


async def test_book_and_candles_from_a_regular_config(
    client: EventClient, pro_app: Application
) -> None:
    # ccxtType "regular" on purpose: a Socket.IO subscription always uses a streaming instance.
    config = {"exchangeId": "binance", "ccxtType": "regular"}
    ids: dict[str, str] = {}
    for data_type, timeframe in (("orderbook", None), ("ohlcv", "1m")):
        payload: dict[str, Any] = {
            "exchangeId": "binance",
            "symbol": "BTC/USDT",
            "dataType": data_type,
            "config": config,
        }
        if timeframe:
            payload["timeframe"] = timeframe
        await client.emit("subscribe", payload)
        ids[data_type] = (await client.expect("subscribed", timeout=10))["subscriptionId"]
    first: dict[str, Any] = {}
    for _ in range(200):
        event = await client.expect("data", timeout=5)
        first.setdefault(event["subscriptionId"], event["data"])
        if len(first) == 2:
            break
    book = first[ids["orderbook"]]
    assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]
    candles = first[ids["ohlcv"]]
    assert candles and len(candles[0]) == 6
    for subscription_id in ids.values():
        await client.emit("unsubscribe", {"subscriptionId": subscription_id})
        await client.expect("unsubscribed")
    hub = pro_app.container.stream_hub()
    await hub.idle()
    assert hub.stats()["loops"] == 0
