"""Subscription caps hold for concurrent subscribe events: a burst on one socket never gets
more than ``max_subscriptions_per_socket``, nor a token more than its ``max_subscriptions``.

The exchange is slow to start a stream (its markets take 0.3 s), so every subscribe of the
burst is in flight, waiting for its stream, at once: a cap counted when a subscription
becomes live instead of when it is accepted lets them all through.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from app.settings import TokenSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN, make_app, make_settings
from tests.support.server import running_server

CONFIG = {"exchangeId": "fake", "marketType": "spot", "ccxtType": "pro"}
# 12 distinct subscriptions (3 symbols x 4 data types) of the fake exchange.
BURST = [
    {"exchangeId": "fake", "symbol": symbol, "dataType": data_type, "config": CONFIG}
    | ({"timeframe": "1m"} if data_type == "ohlcv" else {})
    for symbol in ("BTC/USDT", "ETH/USDT", "BTC/USDT:USDT")
    for data_type in ("ticker", "orderbook", "trades", "ohlcv")
]
DESK = "desk-burst-token-0001"


def slow_exchange() -> FakeBackend:
    backend = FakeBackend()
    backend.gateway_kwargs["load_markets_delay"] = 0.3  # the exchange, not a test wait
    return backend


async def answers(clients: list[EventClient], expected: int) -> tuple[list[Any], list[Any]]:
    """Wait (bounded) for ``expected`` answers over ``clients``; (subscribed, refused)."""

    def count() -> int:
        return sum(
            c.queues["subscribed"].qsize() + c.queues["subscription_error"].qsize() for c in clients
        )

    await eventually(lambda: count() >= expected, timeout=15, message="every subscribe answered")
    subscribed, refused = [], []
    for client in clients:
        for queue, into in (
            (client.queues["subscribed"], subscribed),
            (client.queues["subscription_error"], refused),
        ):
            while not queue.empty():
                into.append(queue.get_nowait())
    return subscribed, refused


async def test_a_burst_on_one_socket_gets_exactly_the_per_socket_cap() -> None:
    application = make_app(
        make_settings(streams={"max_subscriptions_per_socket": 5}), [slow_exchange()]
    )
    client = EventClient()
    async with running_server(application) as url:
        try:
            await client.connect(url, auth={"token": TOKEN})
            await asyncio.gather(*(client.emit("subscribe", request) for request in BURST))
            subscribed, refused = await answers([client], len(BURST))
            assert len(subscribed) == 5, subscribed
            assert len(refused) == len(BURST) - 5
            assert {r["error"] for r in refused} == {
                "Too many subscriptions on this connection (max 5)"
            }
            stats = application.container.stream_service().stats()
            assert stats["subscriptions"] == 5
            assert stats["streams"] == 5  # a refused subscribe started no stream either
        finally:
            await client.close()


async def test_a_burst_over_two_sockets_of_one_token_gets_exactly_its_quota() -> None:
    settings = make_settings(streams={"max_subscriptions_per_socket": 100})
    settings.tokens = [
        TokenSettings(
            name="desk", sha256=hashlib.sha256(DESK.encode()).hexdigest(), max_subscriptions=3
        )
    ]
    application = make_app(settings, [slow_exchange()])
    clients = [EventClient(), EventClient()]
    async with running_server(application) as url:
        try:
            for client in clients:
                await client.connect(url, auth={"token": DESK})
            half = len(BURST) // 2
            await asyncio.gather(
                *(clients[0].emit("subscribe", request) for request in BURST[:half]),
                *(clients[1].emit("subscribe", request) for request in BURST[half:]),
            )
            subscribed, refused = await answers(clients, len(BURST))
            assert len(subscribed) == 3, subscribed
            assert {r["error"] for r in refused} == {
                "Too many subscriptions for this token (max 3)"
            }
            assert application.container.stream_service().stats()["subscriptions"] == 3
        finally:
            for client in clients:
                await client.close()
