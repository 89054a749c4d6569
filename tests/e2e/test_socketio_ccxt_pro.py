"""Socket.IO streams end to end on the real CCXT backend: ccxt.pro binance on the WS emulator.

The real app (CcxtBackend, operator overrides ``emulator.overrides(pro=True)``) is served by
uvicorn; python-socketio clients subscribe, and the emulator's log shows what reached the
exchange: one SUBSCRIBE however many clients share a stream, UNSUBSCRIBE once the last leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.adapters.ccxt.backend import CcxtBackend
from app.entrypoints.asgi import Application
from app.settings import ExchangeSettings
from tests.e2e.socketio_client import EventClient
from tests.emulator import BinanceEmulator
from tests.emulator import market_data as md
from tests.emulator.binance_ws import ticker_price
from tests.emulator.fixtures import binance_emulator  # noqa: F401
from tests.support.app import TOKEN, make_app, make_settings
from tests.support.server import running_server

TICKER = {
    "exchangeId": "binance",
    "symbol": "BTC/USDT",
    "dataType": "ticker",
    "config": {"exchangeId": "binance", "ccxtType": "pro"},
}
STREAM = "btcusdt@miniTicker"
EMULATOR_PRICES = {round(ticker_price("BTC", n), 8) for n in range(5)}

Connect = Callable[[], Any]


@pytest.fixture
def pro_app(binance_emulator: BinanceEmulator) -> Application:  # noqa: F811
    settings = make_settings(
        streams={"retry_initial_seconds": 0.01, "retry_max_seconds": 0.05, "retry_jitter": 0.0}
    )
    settings.exchanges["binance"] = ExchangeSettings(ccxt=binance_emulator.overrides(pro=True))
    settings.ccxt.enable_rate_limit = False
    return make_app(settings, [CcxtBackend(settings)])


@pytest.fixture
async def connect(pro_app: Application) -> AsyncIterator[Connect]:
    clients: list[EventClient] = []
    async with running_server(pro_app) as url:

        async def make() -> EventClient:
            client = EventClient()
            await client.connect(url)
            clients.append(client)
            await client.authenticate(TOKEN)
            return client

        yield make
        for client in clients:
            await client.close()


async def subscribe(client: EventClient) -> str:
    await client.emit("subscribe", TICKER)
    subscribed = await client.expect("subscribed", timeout=8)
    assert subscribed["dataType"] == "ticker" and subscribed["exchangeId"] == "binance"
    return str(subscribed["subscriptionId"])


def assert_emulator_ticker(event: dict[str, Any], subscription_id: str) -> None:
    assert event["subscriptionId"] == subscription_id
    assert event["exchange"] == "binance" and event["dataType"] == "ticker"
    assert event["symbol"] == "BTC/USDT"
    ticker = event["data"]
    assert ticker["symbol"] == "BTC/USDT"
    assert ticker["info"]["e"] == "24hrMiniTicker" and ticker["info"]["s"] == "BTCUSDT"
    assert ticker["last"] in EMULATOR_PRICES
    assert ticker["high"] == round(md.price("BTC") * 1.05, 8)


async def test_subscribe_receives_the_emulators_ticker_and_unsubscribe_reaches_it(
    connect: Connect,
    binance_emulator: BinanceEmulator,  # noqa: F811
    pro_app: Application,
) -> None:
    ws = binance_emulator.ws
    client = await connect()
    subscription_id = await subscribe(client)
    for _ in range(3):
        assert_emulator_ticker(await client.expect("data", timeout=5), subscription_id)
    assert ws.subscribe_count(STREAM) == 1
    await client.emit("unsubscribe", {"subscriptionId": subscription_id})
    assert await client.expect("unsubscribed") == {"subscriptionId": subscription_id}
    await ws.wait_until(lambda: ws.unsubscribed(STREAM) == 1, what="UNSUBSCRIBE")
    await asyncio.wait_for(pro_app.container.stream_hub().idle(), 5)
    assert pro_app.container.stream_hub().stats()["loops"] == 0


async def test_two_clients_share_one_exchange_subscription(
    connect: Connect,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    ws = binance_emulator.ws
    first, second = await connect(), await connect()
    first_id, second_id = await subscribe(first), await subscribe(second)
    assert first_id != second_id
    assert_emulator_ticker(await first.expect("data", timeout=5), first_id)
    assert_emulator_ticker(await second.expect("data", timeout=5), second_id)
    assert ws.subscribe_count(STREAM) == 1 and ws.connections == 1, ws.log

    await first.emit("unsubscribe", {"subscriptionId": first_id})
    await first.expect("unsubscribed")
    while not second.queues["data"].empty():
        second.queues["data"].get_nowait()
    assert_emulator_ticker(await second.expect("data", timeout=5), second_id)  # still flowing
    assert ws.unsubscribed(STREAM) == 0

    await second.emit("unsubscribe", {"subscriptionId": second_id})
    await second.expect("unsubscribed")
    await ws.wait_until(lambda: ws.unsubscribed(STREAM) == 1, what="UNSUBSCRIBE")
    assert ws.subscribe_count(STREAM) == 1


async def test_a_disconnecting_client_releases_the_exchange_subscription(
    connect: Connect,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    ws = binance_emulator.ws
    client = await connect()
    subscription_id = await subscribe(client)
    assert_emulator_ticker(await client.expect("data", timeout=5), subscription_id)
    await client.close()
    await ws.wait_until(lambda: ws.unsubscribed(STREAM) == 1, what="UNSUBSCRIBE on disconnect")


async def test_clients_see_an_error_then_data_again_after_the_exchange_drops(
    connect: Connect,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    ws = binance_emulator.ws
    client = await connect()
    subscription_id = await subscribe(client)
    await client.expect("data", timeout=5)
    await ws.drop_all()
    error = await client.expect("error", timeout=5)
    assert error["subscriptionId"] == subscription_id and error["error"]
    assert "127.0.0.1" not in error["error"]
    while not client.queues["data"].empty():
        client.queues["data"].get_nowait()
    assert_emulator_ticker(await client.expect("data", timeout=5), subscription_id)
    assert ws.subscribe_count(STREAM) == 2 and ws.connections == 1
