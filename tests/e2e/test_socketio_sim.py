"""Socket.IO on the simulated exchange, with the backends the server really discovers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.entrypoints.asgi import create_app
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN, make_settings
from tests.support.server import running_server


@pytest.fixture
async def sim_url() -> AsyncIterator[str]:
    settings = make_settings(exchanges={"sim": {"options": {"tick_hz": 20}}})
    async with running_server(create_app(settings)) as url:
        yield url


@pytest.mark.parametrize(
    ("data_type", "timeframe"),
    [("ticker", None), ("orderbook", None), ("trades", None), ("ohlcv", "1m")],
)
async def test_sim_streams_reach_socketio_clients(
    sim_url: str, data_type: str, timeframe: str | None
) -> None:
    client = EventClient()
    await client.connect(sim_url, auth={"token": TOKEN})
    try:
        payload = {
            "exchangeId": "sim",
            "symbol": "BTC/USDT",
            "dataType": data_type,
            "config": {"exchangeId": "sim"},
        }
        if timeframe:
            payload["timeframe"] = timeframe
        await client.emit("subscribe", payload)
        subscribed = await client.expect("subscribed")
        first = await client.expect("data", timeout=5)
        second = await client.expect("data", timeout=5)
        assert first["subscriptionId"] == second["subscriptionId"] == subscribed["subscriptionId"]
        assert first["exchange"] == "sim" and first["dataType"] == data_type
        if data_type == "orderbook":
            assert first["data"]["bids"] and first["data"]["asks"]
        if data_type == "ticker":
            assert first["data"]["symbol"] == "BTC/USDT"
    finally:
        await client.close()


async def test_an_installed_plugin_streams_over_socketio_end_to_end() -> None:
    """The example plugin, found through its entry point, serves `example` over Socket.IO."""
    settings = make_settings(exchanges={"example": {"options": {"interval": 0.05}}})
    async with running_server(create_app(settings)) as url:
        client = EventClient()
        await client.connect(url, auth={"token": TOKEN})
        try:
            await client.emit(
                "subscribe",
                {
                    "exchangeId": "example",
                    "symbol": "BTC/USDT",
                    "dataType": "ticker",
                    "config": {"exchangeId": "example"},
                },
            )
            subscribed = await client.expect("subscribed")
            update = await client.expect("data", timeout=5)
            assert update["subscriptionId"] == subscribed["subscriptionId"]
            assert update["exchange"] == "example" and update["data"]["symbol"] == "BTC/USDT"
            await client.emit(
                "subscribe",
                {
                    "exchangeId": "example",
                    "symbol": "BTC/USDT",
                    "dataType": "balance",
                    "config": {"exchangeId": "example"},
                },
            )
            refused = await client.expect("subscription_error")
            assert refused["dataType"] == "balance"
        finally:
            await client.close()


async def test_futures_bare_pair_and_swap_symbol_share_one_stream_each_echoed_as_sent() -> None:
    """On a futures instance BTC/USDT means the linear swap BTC/USDT:USDT (as ccxt and the
    sim's fetch resolve it): both spellings share one stream, each sees its own spelling."""
    from app.domain.streams import StreamService

    settings = make_settings(exchanges={"sim": {"options": {"tick_hz": 20}}})
    application = create_app(settings)
    config = {"exchangeId": "sim", "marketType": "futures"}
    clients = []
    async with running_server(application) as url:
        try:
            for symbol in ("BTC/USDT", "BTC/USDT:USDT"):
                client = EventClient()
                await client.connect(url, auth={"token": TOKEN})
                clients.append(client)
                await client.emit(
                    "subscribe",
                    {"exchangeId": "sim", "symbol": symbol, "dataType": "ticker", "config": config},
                )
                assert (await client.expect("subscribed"))["symbol"] == symbol
            bare, swap = clients
            bare_data, swap_data = (
                await bare.expect("data", timeout=5),
                await swap.expect("data", timeout=5),
            )
            assert bare_data["symbol"] == "BTC/USDT" and swap_data["symbol"] == "BTC/USDT:USDT"
            assert bare_data["data"]["symbol"] == swap_data["data"]["symbol"] == "BTC/USDT:USDT"
            service: StreamService = application.container.stream_service()
            assert service.stats()["streams"] == 1 and service.stats()["subscriptions"] == 2
        finally:
            for client in clients:
                await client.close()
