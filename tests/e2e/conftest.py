"""Fixtures for e2e tests: the real app on a fake backend, served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.entrypoints.asgi import Application
from app.testing.fakes import FakeBackend
from tests.e2e.socketio_client import EventClient
from tests.support.app import make_app, make_settings
from tests.support.server import running_server


@pytest.fixture
def stream_settings() -> dict[str, Any]:
    return {"auth_timeout_seconds": 5, "max_subscriptions_per_socket": 5}


@pytest.fixture
def application(fake_backend: FakeBackend, stream_settings: dict[str, Any]) -> Application:
    settings = make_settings(streams=stream_settings)
    return make_app(settings, [fake_backend])


@pytest.fixture
async def server_url(application: Application) -> AsyncIterator[str]:
    async with running_server(application) as url:
        yield url


@pytest.fixture
async def connect(server_url: str) -> AsyncIterator[Callable[..., Any]]:
    clients: list[EventClient] = []

    async def make(auth: Any = None, transports: list[str] | None = None) -> EventClient:
        client = EventClient()
        await client.connect(server_url, auth=auth, transports=transports)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
