"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.testing.fakes import FakeBackend
from tests.support.app import http_client, make_app, make_settings
from tests.support.redis_server import RedisServer


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def client(fake_backend: FakeBackend) -> AsyncIterator[AsyncTestClient[Any]]:
    """The real application on a fake backend serving exchange id "fake"."""
    async with http_client(make_app(make_settings(), [fake_backend])) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session on a free loopback port (issue 12)."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied before each test (FLUSHALL)."""
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test alone: for tests that kill or restart it."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()
