"""Builds the real application around fake backends, for HTTP and Socket.IO tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from dependency_injector import providers
from litestar.testing import AsyncTestClient

from app.adapters.backends import registry_from_backends
from app.container import Container, build_container
from app.entrypoints.asgi import Application, create_app
from app.ports.exchange_backend import ExchangeBackend
from app.settings import Settings, load_settings

TOKEN = "test-token-not-a-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_settings(**overrides: Any) -> Settings:
    """Settings as an operator would write them, without reading this machine's environment."""
    return load_settings(env={"API_TOKEN": TOKEN}, overrides=overrides)


def make_container(settings: Settings, backends: Iterable[ExchangeBackend]) -> Container:
    container = build_container(settings)
    container.registry.override(providers.Object(registry_from_backends(list(backends), settings)))
    return container


def make_app(settings: Settings, backends: Iterable[ExchangeBackend]) -> Application:
    return create_app(settings, make_container(settings, backends))


@asynccontextmanager
async def http_client(application: Application) -> AsyncIterator[AsyncTestClient[Any]]:
    """An in-process client that runs the app's lifespan (startup and shutdown)."""
    async with AsyncTestClient(app=application.http) as client:
        yield client
