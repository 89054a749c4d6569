"""Socket.IO accepts named tokens, enforces max_subscriptions over all of a token's
connections, and closes the token's connections once it is revoked."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import socketio

from app.domain.access import TokenBook
from app.entrypoints.asgi import Application
from app.settings import TokenSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN, make_app, make_settings
from tests.support.server import running_server

DESK = "desk-socket-token-0001"


def ticker(symbol: str) -> dict[str, Any]:
    return {
        "exchangeId": "fake",
        "symbol": symbol,
        "dataType": "ticker",
        "config": {"exchangeId": "fake", "ccxtType": "pro"},
    }


@pytest.fixture
def application(fake_backend: FakeBackend) -> Application:
    settings = make_settings()
    settings.tokens = [
        TokenSettings(
            name="desk", sha256=hashlib.sha256(DESK.encode()).hexdigest(), max_subscriptions=2
        )
    ]
    return make_app(settings, [fake_backend])


@pytest.fixture
async def server_url(application: Application) -> AsyncIterator[str]:
    async with running_server(application) as url:
        yield url


@pytest.fixture
async def connect(server_url: str) -> AsyncIterator[Callable[..., Any]]:
    clients: list[EventClient] = []

    async def make(auth: Any = None) -> EventClient:
        client = EventClient()
        clients.append(client)
        await client.connect(server_url, auth=auth)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_named_token_quota_spans_connections_and_revocation_closes_its_connections(
    connect: Callable[..., Any], application: Application
) -> None:
    first = await connect(auth={"token": DESK})  # handshake auth
    second = await connect()
    await second.authenticate(DESK)  # the authenticate event
    await first.emit("subscribe", ticker("BTC/USDT"))
    assert (await first.expect("subscribed"))["symbol"] == "BTC/USDT"
    await second.emit("subscribe", ticker("ETH/USDT"))
    assert (await second.expect("subscribed"))["symbol"] == "ETH/USDT"
    await second.emit("subscribe", ticker("BTC/USDT"))  # the token's third subscription
    refused = await second.expect("subscription_error")
    assert refused["error"] == "Too many subscriptions for this token (max 2)"

    unlimited = await connect(auth={"token": TOKEN})  # API_TOKEN has no quota
    await unlimited.emit("subscribe", ticker("BTC/USDT"))
    assert (await unlimited.expect("subscribed"))["symbol"] == "BTC/USDT"

    await first.emit(
        "unsubscribe", {"subscriptionId": f"{first.sio.get_sid()}:fake:BTC/USDT:ticker"}
    )
    await first.expect("unsubscribed")
    await second.emit("subscribe", ticker("BTC/USDT"))  # room again after the unsubscribe
    assert (await second.expect("subscribed"))["symbol"] == "BTC/USDT"

    access = application.container.access_service()
    await access.reload(TokenBook.build(TOKEN, []))  # desk revoked
    # Its open connections are told and closed (ADR 0165), their subscriptions released.
    for revoked in (first, second):
        assert (await revoked.expect("auth_error"))["error"] == "Invalid token"
        await eventually(revoked.disconnected.is_set, timeout=5, message="revoked: closed")
    assert application.container.stream_service().stats()["subscriptions"] == 1
    await unlimited.emit("subscribe", ticker("ETH/USDT"))
    assert (await unlimited.expect("subscribed"))["symbol"] == "ETH/USDT"
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(auth={"token": DESK})  # a new connection with the revoked token


async def test_wrong_token_is_still_refused(connect: Callable[..., Any]) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(auth={"token": DESK + "x"})
    client = await connect(auth={"token": DESK})  # positive control
    await client.emit("subscribe", ticker("BTC/USDT"))
    assert (await client.expect("subscribed"))["symbol"] == "BTC/USDT"
