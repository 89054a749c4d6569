"""The example backend passes profitmaker-server's ExchangeGateway contract kit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from profitmaker_example_backend import ExampleBackend, ExampleGateway

from app.plugin import BackendContext, ExchangeConfig
from app.plugin.testing import ExchangeGatewayContract


class TestExampleBackend(ExchangeGatewayContract):
    @pytest.fixture
    async def contract_gateway(self) -> AsyncIterator[ExampleGateway]:
        gateway = ExampleBackend(BackendContext()).create(
            ExchangeConfig("example", ccxt_type="pro")
        )
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    def contract_symbol(self) -> str:
        return "BTC/USDT"


async def test_streams_replay_the_recorded_trades_in_order() -> None:
    gateway = ExampleBackend(BackendContext()).create(ExchangeConfig("example"))
    recorded = await gateway.fetch_trades("ETH/USDT", None, 1000)
    replayed = [(await gateway.watch_trades("ETH/USDT"))[0] for _ in range(5)]
    assert replayed == recorded[:5]
    ticker = await gateway.watch_ticker("ETH/USDT")
    assert ticker["last"] == recorded[0]["price"]
    await gateway.close()
