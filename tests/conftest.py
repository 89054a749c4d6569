"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.testing.fakes import FakeBackend
from tests.support.app import http_client, make_app, make_settings


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def client(fake_backend: FakeBackend) -> AsyncIterator[AsyncTestClient[Any]]:
    """The real application on a fake backend serving exchange id "fake"."""
    async with http_client(make_app(make_settings(), [fake_backend])) as test_client:
        yield test_client
