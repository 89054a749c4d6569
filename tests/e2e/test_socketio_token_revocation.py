"""A token reload ends what a revoked token still holds open on Socket.IO (ADR 0165).

Through the real server: connections that authenticated with a token the reload removed,
or whose value it rotated, get ``auth_error {error: "Invalid token"}`` and are disconnected,
and their subscriptions are released; every other connection, including one whose token
only had its quota changed, keeps streaming.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import socketio

from app.entrypoints.asgi import Application
from app.entrypoints.operations import reload_tokens
from app.settings import Settings, load_settings
from app.testing import eventually
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from tests.e2e.socketio_client import EventClient
from tests.support.app import TOKEN, make_app
from tests.support.server import running_server

ALPHA, BETA, GAMMA = "alpha-socket-0001", "beta-socket-0002", "gamma-socket-0003"
BETA_ROTATED = "beta-socket-0002-rotated"
TICKER = {
    "exchangeId": "fake",
    "symbol": "BTC/USDT",
    "dataType": "ticker",
    "config": {"exchangeId": "fake", "ccxtType": "pro"},
}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def tokens_toml(entries: dict[str, tuple[str, int | None]]) -> str:
    """``[[tokens]]`` entries: name -> (token value, max_subscriptions)."""
    out = []
    for name, (value, most) in entries.items():
        out.append(f'[[tokens]]\nname = "{name}"\nsha256 = "{sha(value)}"\n')
        if most is not None:
            out.append(f"max_subscriptions = {most}\n")
    return "".join(out)


async def subscribed(client: EventClient) -> str:
    await client.emit("subscribe", TICKER)
    answer = await client.expect("subscribed")
    return str(answer["subscriptionId"])


async def one_update_reaches(
    gateway: FakeExchangeGateway, clients: list[EventClient], last: float
) -> None:
    """Push one ticker and expect it as ``data`` on every client (the positive control)."""
    await gateway.wait_for_watchers("ticker", "BTC/USDT")
    gateway.push("ticker", "BTC/USDT", {**gateway.ticker_for("BTC/USDT"), "last": last})
    for client in clients:
        assert (await client.expect("data"))["data"]["last"] == last


def subscriptions(application: Application) -> int:
    return application.container.stream_service().stats()["subscriptions"]


def write(config: Path, text: str) -> None:
    config.write_text(text)


async def reload(application: Application, settings: Settings, config: Path, text: str) -> None:
    """What SIGHUP does (``token_reload`` calls this very function)."""
    write(config, text)
    assert await reload_tokens(application.container, settings, str(config))


async def test_reload_disconnects_revoked_and_rotated_tokens_and_releases_their_streams(
    tmp_path: Path,
) -> None:
    config = tmp_path / "profitmaker.toml"
    config.write_text(
        tokens_toml({"desk-a": (ALPHA, None), "desk-b": (BETA, None), "desk-c": (GAMMA, 5)})
    )
    settings = load_settings(config, env={"API_TOKEN": TOKEN})
    backend = FakeBackend()
    application = make_app(settings, [backend])
    clients: list[EventClient] = []

    async def connect(token: str, *, by_event: bool = False) -> EventClient:
        client = EventClient()
        clients.append(client)
        await client.connect(url, auth=None if by_event else {"token": token})
        if by_event:
            await client.authenticate(token)
        return client

    async with running_server(application) as url:
        try:
            alpha = await connect(ALPHA)  # handshake auth
            alpha_too = await connect(ALPHA, by_event=True)  # the authenticate event
            beta, gamma, root = await connect(BETA), await connect(GAMMA), await connect(TOKEN)
            everyone = [alpha, alpha_too, beta, gamma, root]
            for client in everyone:
                await subscribed(client)
            gateway = await backend.watching_gateway("ticker", "BTC/USDT")
            await one_update_reaches(gateway, everyone, 101.0)  # all five stream
            assert subscriptions(application) == 5

            # desk-a removed; desk-c only has its quota changed.
            await reload(
                application,
                settings,
                config,
                tokens_toml({"desk-b": (BETA, None), "desk-c": (GAMMA, 1)}),
            )
            for revoked in (alpha, alpha_too):
                assert await revoked.expect("auth_error") == {"error": "Invalid token"}
                await eventually(revoked.disconnected.is_set, timeout=5, message="disconnected")
            assert subscriptions(application) == 3  # released, not left to stream
            await one_update_reaches(gateway, [beta, gamma, root], 102.0)
            for revoked in (alpha, alpha_too):
                assert revoked.queues["data"].empty()  # nothing after the auth_error

            # desk-b keeps its name but its value is rotated: the old value is revoked too.
            await reload(
                application,
                settings,
                config,
                tokens_toml({"desk-b": (BETA_ROTATED, None), "desk-c": (GAMMA, 1)}),
            )
            assert await beta.expect("auth_error") == {"error": "Invalid token"}
            await eventually(beta.disconnected.is_set, timeout=5, message="beta disconnected")
            assert subscriptions(application) == 2
            await one_update_reaches(gateway, [gamma, root], 103.0)
            assert gamma.sio.connected and root.sio.connected
            assert gamma.queues["auth_error"].empty() and root.queues["auth_error"].empty()

            # The new value works; the old one no longer connects.
            with pytest.raises(socketio.exceptions.ConnectionError):
                await connect(BETA)
            fresh = await connect(BETA_ROTATED)
            await subscribed(fresh)
            assert (await fresh.expect("data"))["data"]["last"] == 103.0  # the latest, at once
            await one_update_reaches(gateway, [gamma, root, fresh], 104.0)
        finally:
            for client in clients:
                await client.close()


async def test_a_reload_that_revokes_nothing_disconnects_nobody(tmp_path: Path) -> None:
    config = tmp_path / "profitmaker.toml"
    text = tokens_toml({"desk-a": (ALPHA, None)})
    config.write_text(text)
    settings = load_settings(config, env={"API_TOKEN": TOKEN})
    backend = FakeBackend()
    application = make_app(settings, [backend])
    client = EventClient()
    async with running_server(application) as url:
        try:
            await client.connect(url, auth={"token": ALPHA})
            await subscribed(client)
            gateway = await backend.watching_gateway("ticker", "BTC/USDT")
            await one_update_reaches(gateway, [client], 201.0)
            await reload(application, settings, config, text + tokens_toml({"desk-x": (BETA, 1)}))
            await one_update_reaches(gateway, [client], 202.0)  # still streaming
            assert client.sio.connected and client.queues["auth_error"].empty()
            assert subscriptions(application) == 1
        finally:
            await client.close()
