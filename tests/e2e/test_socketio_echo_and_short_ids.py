"""Issue 10: events echo what the client sent; the terminal's short unsubscribe ids work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.entrypoints.asgi import Application
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN

Connect = Callable[..., Any]


def payload(
    data_type: str, timeframe: str | None = None, symbol: str = "BTC/USDT"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "exchangeId": "fake",
        "symbol": symbol,
        "dataType": data_type,
        "config": {"exchangeId": "fake", "ccxtType": "pro"},
    }
    if timeframe is not None:
        body["timeframe"] = timeframe
    return body


async def authed(connect: Connect) -> EventClient:
    client = await connect()
    await client.authenticate(TOKEN)
    return client


async def watched(
    backend: FakeBackend, data_type: str, timeframe: str | None = None
) -> FakeExchangeGateway:
    return await backend.watching_gateway(data_type, "BTC/USDT", timeframe)


@pytest.mark.parametrize("data_type", ["ticker", "orderbook", "trades"])
async def test_timeframe_named_for_a_non_ohlcv_type_is_echoed_in_subscribed_and_data(
    connect: Connect, fake_backend: FakeBackend, data_type: str
) -> None:
    named, plain = await authed(connect), await authed(connect)
    await named.emit("subscribe", payload(data_type, "1h"))
    await plain.emit("subscribe", payload(data_type))  # positive control: same stream, no echo
    subscribed = await named.expect("subscribed")
    plain_subscribed = await plain.expect("subscribed")
    assert subscribed["timeframe"] == "1h" and subscribed["subscriptionId"].endswith(
        f":{data_type}:1h"
    )
    assert "timeframe" not in plain_subscribed
    gw = await watched(fake_backend, data_type)
    gw.push(data_type, "BTC/USDT", gw.sample(data_type, "BTC/USDT"))
    data, plain_data = await named.expect("data"), await plain.expect("data")
    assert data["timeframe"] == "1h" and data["subscriptionId"] == subscribed["subscriptionId"]
    assert "timeframe" not in plain_data and plain_data["dataType"] == data_type
    assert len(fake_backend.created) == 1 and gw.calls[_watch_call(data_type)] >= 1


def _watch_call(data_type: str) -> str:
    return {"ticker": "watch_ticker", "orderbook": "watch_order_book", "trades": "watch_trades"}[
        data_type
    ]


async def test_ohlcv_events_echo_their_timeframe(
    connect: Connect, fake_backend: FakeBackend
) -> None:
    client = await authed(connect)
    await client.emit("subscribe", payload("ohlcv", "5m"))
    subscribed = await client.expect("subscribed")
    assert subscribed["timeframe"] == "5m"
    gw = await watched(fake_backend, "ohlcv", "5m")
    gw.push("ohlcv", "BTC/USDT", gw.sample("ohlcv", "BTC/USDT", "5m"), timeframe="5m")
    data = await client.expect("data")
    assert data["timeframe"] == "5m" and data["subscriptionId"] == subscribed["subscriptionId"]


async def test_unsubscribe_by_the_terminals_short_id_ends_only_this_sockets_subscription(
    connect: Connect, fake_backend: FakeBackend, application: Application
) -> None:
    mine, theirs = await authed(connect), await authed(connect)
    for client in (mine, theirs):
        await client.emit("subscribe", payload("ticker"))
        await client.expect("subscribed")
    short_id = "fake:BTC/USDT:ticker"
    await mine.emit("unsubscribe", {"subscriptionId": short_id})
    assert await mine.expect("unsubscribed") == {"subscriptionId": short_id}
    assert application.container.stream_service().stats()["subscriptions"] == 1
    gw = await watched(fake_backend, "ticker")
    gw.push("ticker", "BTC/USDT", gw.ticker_for("BTC/USDT"))
    assert (await theirs.expect("data"))["symbol"] == "BTC/USDT"  # theirs keeps streaming
    assert await mine.nothing("data", wait=0.2)
    # ... and theirs can end it with the same short id, which stops the upstream loop.
    await theirs.emit("unsubscribe", {"subscriptionId": short_id})
    await theirs.expect("unsubscribed")
    await application.container.stream_hub().idle()
    assert gw.un_watched == [("ticker", "BTC/USDT", None)]
    assert application.container.stream_service().stats()["subscriptions"] == 0


async def test_short_id_with_timeframe_unsubscribes_an_ohlcv_subscription(
    connect: Connect, fake_backend: FakeBackend, application: Application
) -> None:
    client = await authed(connect)
    await client.emit("subscribe", payload("ohlcv", "1m"))
    await client.emit("subscribe", payload("ohlcv", "5m"))
    await client.expect("subscribed")
    await client.expect("subscribed")
    await client.emit("unsubscribe", {"subscriptionId": "fake:BTC/USDT:ohlcv:5m"})
    await client.expect("unsubscribed")
    await application.container.stream_hub().idle()
    gw = await watched(fake_backend, "ohlcv", "1m")
    assert gw.un_watched == [("ohlcv", "BTC/USDT", "5m")]  # the 1m stream is untouched
    assert application.container.stream_service().stats()["subscriptions"] == 1
