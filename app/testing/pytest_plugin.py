"""pytest plugin entry point (``pytest11``): exposes the contract-kit fixtures to plugin authors.

The plugin is active in every pytest session of an environment where the server is
installed, so its fixtures carry a ``profitmaker_`` prefix: ``profitmaker_fake_gateway`` (a
FakeExchangeGateway with markets loaded), ``profitmaker_fake_backend`` and
``profitmaker_fake_stream_trigger`` (a ``contract_stream_trigger`` that drives a fake's
streams). The unprefixed names (``fake_gateway``, ``fake_backend``, ``fake_stream_trigger``)
remain as aliases for existing users; a project's own fixture of that name overrides them.
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
async def profitmaker_fake_gateway() -> AsyncIterator[FakeExchangeGateway]:
    gateway = FakeExchangeGateway()
    await gateway.load_markets()
    yield gateway
    await gateway.close()


@pytest.fixture
def profitmaker_fake_backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def profitmaker_fake_stream_trigger() -> Any:
    return push_sample


# Unprefixed aliases, kept for plugins written before the prefix (docs/adr/0081).


@pytest.fixture
def fake_gateway(profitmaker_fake_gateway: FakeExchangeGateway) -> FakeExchangeGateway:
    return profitmaker_fake_gateway


@pytest.fixture
def fake_backend(profitmaker_fake_backend: FakeBackend) -> FakeBackend:
    return profitmaker_fake_backend


@pytest.fixture
def fake_stream_trigger(profitmaker_fake_stream_trigger: Any) -> Any:
    return profitmaker_fake_stream_trigger
