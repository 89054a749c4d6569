"""pytest plugin entry point (``pytest11``): exposes the contract-kit fixtures to plugin authors.

Fixtures: ``fake_gateway`` (a FakeExchangeGateway with markets loaded), ``fake_backend`` and
``fake_stream_trigger`` (the ``contract_stream_trigger`` that drives a fake's streams).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.testing.fakes import FakeBackend, FakeExchangeGateway


async def push_sample(
    gateway: FakeExchangeGateway, data_type: str, symbol: str, timeframe: str | None = None
) -> None:
    """Wait until a watch waits on the stream, then push the fake's sample payload to it."""
    await gateway.wait_for_watchers(data_type, symbol, timeframe=timeframe, timeout=5.0)
    gateway.push(data_type, symbol, gateway.sample(data_type, symbol, timeframe), timeframe)


@pytest.fixture
async def fake_gateway() -> AsyncIterator[FakeExchangeGateway]:
    gateway = FakeExchangeGateway()
    await gateway.load_markets()
    yield gateway
    await gateway.close()


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def fake_stream_trigger() -> Any:
    return push_sample
