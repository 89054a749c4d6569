"""Socket.IO contract (section 3) against the real app on a fake backend, over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import socketio

from app.domain.errors import ExchangeUnreachable
from app.entrypoints.asgi import Application
from app.testing import eventually
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN

Connect = Callable[..., Any]

TICKER = {
    "exchangeId": "fake",
    "symbol": "BTC/USDT",
    "dataType": "ticker",
    "config": {"exchangeId": "fake", "marketType": "spot", "ccxtType": "pro"},
}


async def authed(connect: Connect) -> EventClient:
    client = await connect()
    await client.authenticate(TOKEN)
    return client


async def gateway(
    backend: FakeBackend,
    data_type: str = "ticker",
    symbol: str = "BTC/USDT",
    timeframe: str | None = None,
) -> FakeExchangeGateway:
    """The fake gateway the server's upstream loop is watching (waits for it, bounded)."""
    return await backend.watching_gateway(data_type, symbol, timeframe)


def hub_stats(application: Application) -> dict[str, int]:
    return application.container.stream_service().stats()


async def test_authenticate_with_event_then_subscribe_receive_and_unsubscribe(
    connect: Connect, fake_backend: FakeBackend, application: Application
) -> None:
    client = await authed(connect)
    await client.emit("subscribe", TICKER)
    subscribed = await client.expect("subscribed")
    sid = client.sio.get_sid()
    assert subscribed == {
        "subscriptionId": f"{sid}:fake:BTC/USDT:ticker",
        "exchangeId": "fake",
        "symbol": "BTC/USDT",
        "dataType": "ticker",
    }
    gw = await gateway(fake_backend)
    gw.push("ticker", "BTC/USDT", gw.ticker_for("BTC/USDT"))
    data = await client.expect("data")
    assert data["subscriptionId"] == subscribed["subscriptionId"]
    assert data["dataType"] == "ticker" and data["exchange"] == "fake"
    assert (
        data["symbol"] == "BTC/USDT" and data["data"]["last"] == gw.ticker_for("BTC/USDT")["last"]
    )
    assert isinstance(data["timestamp"], int) and data["timestamp"] > 1_700_000_000_000
    await client.emit("unsubscribe", {"subscriptionId": subscribed["subscriptionId"]})
    assert await client.expect("unsubscribed") == {"subscriptionId": subscribed["subscriptionId"]}
    await application.container.stream_hub().idle()
    assert gw.un_watched == [("ticker", "BTC/USDT", None)]
    assert hub_stats(application)["loops"] == 0


async def test_token_in_handshake_auth_is_accepted(connect: Connect) -> None:
    client = await connect(auth={"token": TOKEN})
    await client.emit("subscribe", TICKER)
    assert (await client.expect("subscribed"))["dataType"] == "ticker"


async def test_wrong_handshake_token_refuses_the_connection(server_url: str) -> None:
    client = EventClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server_url, auth={"token": "wrong"})
    assert await client.expect("connect_error") == {"message": "Invalid token"}


async def test_wrong_token_gets_auth_error_then_disconnect(connect: Connect) -> None:
    client = await connect()
    await client.emit("authenticate", {"token": "wrong"})
    assert await client.expect("auth_error") == {"error": "Invalid token"}
    await asyncio.wait_for(client.disconnected.wait(), 3)


@pytest.mark.parametrize("payload", [None, "token", 42, [TOKEN], {"token": 5}, {}])
async def test_malformed_authenticate_gets_auth_error(connect: Connect, payload: Any) -> None:
    client = await connect()
    if payload is None:
        await client.emit("authenticate")
    else:
        await client.emit("authenticate", payload)
    assert await client.expect("auth_error") == {"error": "Invalid token"}


@pytest.mark.parametrize("stream_settings", [{"auth_timeout_seconds": 0.3}])
async def test_unauthenticated_socket_is_disconnected_after_timeout(connect: Connect) -> None:
    slow = await connect()
    fast = await connect()
    await fast.authenticate(TOKEN)
    later = await connect()  # its timer starts after fast's, so it also fires after fast's would
    await asyncio.wait_for(slow.disconnected.wait(), 3)
    await asyncio.wait_for(later.disconnected.wait(), 3)
    # fast's own deadline has passed: it is still connected and still served.
    assert fast.sio.connected and not fast.disconnected.is_set()
    await fast.emit("subscribe", TICKER)
    assert (await fast.expect("subscribed"))["dataType"] == "ticker"


async def test_subscribe_before_authenticate_is_refused(connect: Connect) -> None:
    client = await connect()
    await client.emit("subscribe", TICKER)
    error = await client.expect("subscription_error")
    assert error == {
        "error": "Not authenticated",
        "exchangeId": "fake",
        "symbol": "BTC/USDT",
        "dataType": "ticker",
        "timeframe": None,
    }


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"exchangeId": "fake", "dataType": "ticker"}, "Missing required parameters"),
        ({"symbol": "BTC/USDT", "dataType": "ticker"}, "Missing required parameters"),
        ({"exchangeId": "fake", "symbol": "BTC/USDT"}, "Missing required parameters"),
        ({**TICKER, "dataType": "candles"}, "Unsupported data type: candles"),
        ({**TICKER, "dataType": "ohlcv"}, "Timeframe is required for OHLCV subscription"),
        ({**TICKER, "symbol": "NOPE/USDT"}, "fake does not have market symbol NOPE/USDT"),
        ({**TICKER, "dataType": "balance"}, "API credentials required for balance watching"),
        ({**TICKER, "exchangeId": "nosuch", "config": None}, "Unknown exchange id: nosuch"),
        ({**TICKER, "config": {"exchangeId": "fake", "marketType": "x"}}, None),
    ],
)
async def test_subscription_errors(connect: Connect, payload: Any, error: str | None) -> None:
    client = await authed(connect)
    await client.emit("subscribe", payload)
    answer = await client.expect("subscription_error")
    if error is None:
        assert answer["error"].startswith("marketType must be one of")
    else:
        assert answer["error"] == error
    assert await client.nothing("subscribed")


async def test_unsupported_watch_method_is_refused_once_and_can_be_retried(
    connect: Connect, fake_backend: FakeBackend, application: Application
) -> None:
    fake_backend.gateway_kwargs["has"] = {"watchOrderBook": False}
    client = await authed(connect)
    book = {**TICKER, "dataType": "orderbook"}
    await client.emit("subscribe", book)
    assert (await client.expect("subscription_error"))["error"] == (
        "fake does not support watchOrderBook"
    )
    assert await client.nothing("subscribed") and await client.nothing("error")
    assert hub_stats(application)["subscriptions"] == 0
    fake_backend.created[0]._has["watchOrderBook"] = True
    await client.emit("subscribe", book)
    assert (await client.expect("subscribed"))["dataType"] == "orderbook"


async def test_duplicate_and_cap(connect: Connect) -> None:
    client = await authed(connect)
    await client.emit("subscribe", TICKER)
    await client.expect("subscribed")
    await client.emit("subscribe", TICKER)
    assert (await client.expect("subscription_error"))["error"] == "Subscription already exists"
    for symbol in ("ETH/USDT", "BTC/USDT:USDT"):
        await client.emit("subscribe", {**TICKER, "symbol": symbol})
        await client.expect("subscribed")
    for data_type in ("orderbook", "trades"):
        await client.emit("subscribe", {**TICKER, "dataType": data_type})
        await client.expect("subscribed")
    await client.emit("subscribe", {**TICKER, "dataType": "ohlcv", "timeframe": "1m"})
    error = await client.expect("subscription_error")
    assert error["error"] == "Too many subscriptions on this connection (max 5)"


async def test_ohlcv_subscription_id_carries_timeframe(
    connect: Connect, fake_backend: FakeBackend
) -> None:
    client = await authed(connect)
    await client.emit("subscribe", {**TICKER, "dataType": "ohlcv", "timeframe": "5m"})
    subscribed = await client.expect("subscribed")
    assert subscribed["subscriptionId"].endswith(":fake:BTC/USDT:ohlcv:5m")
    assert subscribed["timeframe"] == "5m"
    gw = await gateway(fake_backend, "ohlcv", timeframe="5m")
    gw.push("ohlcv", "BTC/USDT", [[1, 2, 3, 1, 2, 5]], timeframe="5m")
    data = await client.expect("data")
    assert data["timeframe"] == "5m" and data["data"] == [[1, 2, 3, 1, 2, 5]]


async def test_unsubscribe_errors_and_only_own_subscriptions(
    connect: Connect, fake_backend: FakeBackend
) -> None:
    owner, other = await authed(connect), await authed(connect)
    await owner.emit("subscribe", TICKER)
    subscription_id = (await owner.expect("subscribed"))["subscriptionId"]
    for payload in (None, {}, {"subscriptionId": ""}, {"subscriptionId": 5}, "x", [1]):
        if payload is None:
            await other.emit("unsubscribe")
        else:
            await other.emit("unsubscribe", payload)
        assert await other.expect("unsubscribe_error") == {"error": "Missing subscriptionId"}
    await other.emit("unsubscribe", {"subscriptionId": subscription_id})
    assert await other.expect("unsubscribed") == {"subscriptionId": subscription_id}
    await other.emit("unsubscribe", {"subscriptionId": "unknown"})
    assert await other.expect("unsubscribed") == {"subscriptionId": "unknown"}
    gw = await gateway(fake_backend)
    gw.push("ticker", "BTC/USDT", {"last": 1})
    assert (await owner.expect("data"))["subscriptionId"] == subscription_id


async def test_two_clients_share_one_upstream_and_disconnect_stops_it(
    connect: Connect, fake_backend: FakeBackend, application: Application
) -> None:
    a, b = await authed(connect), await authed(connect)
    for client in (a, b):
        await client.emit("subscribe", TICKER)
        await client.expect("subscribed")
    gw = await gateway(fake_backend)
    assert gw.pending_watchers("ticker", "BTC/USDT") == 1
    gw.push("ticker", "BTC/USDT", {"last": 7})
    assert (await a.expect("data"))["data"] == {"last": 7}
    assert (await b.expect("data"))["data"] == {"last": 7}
    assert hub_stats(application)["loops"] == 1
    await a.close()
    await b.close()
    await eventually(lambda: hub_stats(application)["subscriptions"] == 0)
    await application.container.stream_hub().idle()
    assert hub_stats(application) == {
        "streams": 0,
        "loops": 0,
        "subscriptions": 0,
        "connections": 0,
    }
    assert gw.un_watched == [("ticker", "BTC/USDT", None)]


@pytest.mark.parametrize("stream_settings", [{"retry_initial_seconds": 0.01, "retry_jitter": 0.0}])
async def test_stream_error_is_reported_and_stream_recovers(
    connect: Connect, fake_backend: FakeBackend
) -> None:
    client = await authed(connect)
    await client.emit("subscribe", TICKER)
    subscription_id = (await client.expect("subscribed"))["subscriptionId"]
    gw = await gateway(fake_backend)
    gw.fail_next("watch_ticker", ExchangeUnreachable("connection reset by exchange"))
    gw.push("ticker", "BTC/USDT", {"last": 1})
    await client.expect("data")
    assert await client.expect("error") == {
        "subscriptionId": subscription_id,
        "error": "connection reset by exchange",
    }
    gw = await gateway(fake_backend)
    gw.push("ticker", "BTC/USDT", {"last": 2})
    assert (await client.expect("data"))["data"] == {"last": 2}


async def test_polling_transport_works(connect: Connect, fake_backend: FakeBackend) -> None:
    client = await connect(transports=["polling"])
    await client.authenticate(TOKEN)
    await client.emit("subscribe", TICKER)
    await client.expect("subscribed")
    gw = await gateway(fake_backend)
    gw.push("ticker", "BTC/USDT", {"last": 3})
    assert (await client.expect("data"))["data"] == {"last": 3}


MALFORMED: list[Any] = [
    None,
    "",
    "x" * 10_000,
    0,
    -1,
    1e308,
    True,
    [],
    [1, 2],
    {},
    {"a": None},
    {"exchangeId": None, "symbol": None, "dataType": None},
    {"exchangeId": ["fake"], "symbol": {"a": 1}, "dataType": 5},
    {"exchangeId": "fake", "symbol": "BTC/USDT", "dataType": "ticker", "config": "x"},
    {"exchangeId": "fake", "symbol": "BTC/USDT", "dataType": "ticker", "config": []},
    {"exchangeId": "fake", "symbol": "BTC/USDT", "dataType": "ticker", "timeframe": {"x": 1}},
    {"exchangeId": "constructor", "symbol": "\x00\n", "dataType": "__proto__"},
    {"exchangeId": "fake", "symbol": "B" * 5000, "dataType": "ticker"},
    {
        "exchangeId": "fake",
        "symbol": "BTC/USDT",
        "dataType": "ticker",
        "config": {"exchangeId": "fake", "apiKey": 5, "sandbox": "yes"},
    },
    {"subscriptionId": None},
    {"subscriptionId": {"x": 1}},
    {"token": None},
    {"token": "t" * 100_000},
]


async def test_fuzz_every_event_with_malformed_payloads_then_still_serves(
    connect: Connect, fake_backend: FakeBackend
) -> None:
    client = await connect()
    expected = {
        "authenticate": "auth_error",
        "subscribe": "subscription_error",
        "unsubscribe": "unsubscribe_error",
    }
    # Unauthenticated subscribe and unsubscribe first.
    for payload in MALFORMED:
        await client.emit("subscribe", payload)
        assert (await client.expect("subscription_error"))["error"] == "Not authenticated"
    await client.authenticate(TOKEN)
    for payload in MALFORMED:
        await client.emit("subscribe", payload)
        answer = await client.expect(expected["subscribe"])
        assert isinstance(answer["error"], str) and len(answer["error"]) < 300
        await client.emit("unsubscribe", payload)
        event = (
            "unsubscribed"
            if isinstance(payload, dict) and isinstance(payload.get("subscriptionId"), str)
            else expected["unsubscribe"]
        )
        await client.expect(event)
    # Extra arguments, unknown events, bare events.
    await client.sio.emit("subscribe", (TICKER, 1, 2))
    await client.expect("subscribed")
    await client.sio.emit("no_such_event", {"x": 1})
    await client.emit("unsubscribe")
    await client.expect("unsubscribe_error")
    # Each malformed authenticate disconnects: use fresh sockets.
    for payload in MALFORMED[:6]:
        victim = await connect()
        await victim.emit("authenticate", payload)
        await victim.expect("auth_error")
        await asyncio.wait_for(victim.disconnected.wait(), 3)
    # The server still serves new and old clients.
    fresh = await authed(connect)
    await fresh.emit("subscribe", {**TICKER, "symbol": "ETH/USDT"})
    await fresh.expect("subscribed")
    gw = await gateway(fake_backend, symbol="ETH/USDT")
    gw.push("ticker", "ETH/USDT", {"last": 4})
    assert (await fresh.expect("data"))["data"] == {"last": 4}
    gw = await gateway(fake_backend)
    gw.push("ticker", "BTC/USDT", {"last": 5})
    assert (await client.expect("data"))["data"] == {"last": 5}


async def test_socketio_answers_any_origin_by_default(server_url: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.get(
            "/socket.io/",
            params={"EIO": "4", "transport": "polling"},
            headers={"Origin": "http://terminal.example"},
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://terminal.example"
    assert response.text.startswith("0{")  # the engine.io open packet


async def test_socketio_cors_follows_settings(fake_backend: FakeBackend) -> None:
    import httpx

    from tests.support.app import make_app, make_settings
    from tests.support.server import running_server

    settings = make_settings(cors_origins=["http://allowed.example"])
    async with (
        running_server(make_app(settings, [fake_backend])) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        params = {"EIO": "4", "transport": "polling"}
        allowed = await http.get(
            "/socket.io/", params=params, headers={"Origin": "http://allowed.example"}
        )
        refused = await http.get(
            "/socket.io/", params=params, headers={"Origin": "http://evil.example"}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://allowed.example"
    assert refused.status_code == 400
