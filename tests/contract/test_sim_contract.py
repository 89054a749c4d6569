"""The shipped ExchangeGateway contract suite, run against the simulated exchange."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.adapters.sim import ManualClock, SimBackend, SimGateway
from app.domain.config import Credentials, ExchangeConfig
from app.settings import ExchangeSettings, Settings
from app.testing.contract import ExchangeGatewayContract

CREDENTIALS = Credentials(api_key="contract-key", secret="contract-secret")


def _settings(tick_hz: float) -> Settings:
    return Settings(exchanges={"sim": ExchangeSettings(options={"tick_hz": tick_hz})})


class TestSimOnTheWallClock(ExchangeGatewayContract):
    """Real time, streams at 20 Hz: the kit sees the simulator as a server would."""

    @pytest.fixture
    def backend(self) -> SimBackend:
        return SimBackend(_settings(20))

    @pytest.fixture
    async def contract_gateway(self, backend: SimBackend) -> AsyncIterator[SimGateway]:
        gateway = backend.create(ExchangeConfig("sim", ccxt_type="pro"))
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    async def contract_credentialed_gateway(self, backend: SimBackend) -> AsyncIterator[SimGateway]:
        gateway = backend.create(ExchangeConfig("sim", ccxt_type="pro", credentials=CREDENTIALS))
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    def contract_symbol(self) -> str:
        return "BTC/USDT"


class TestSimFuturesOnAManualClock(ExchangeGatewayContract):
    """Simulated time, the swap market and a 1h timeframe."""

    @pytest.fixture
    def backend(self) -> SimBackend:
        return SimBackend(_settings(2), clock=ManualClock())

    @pytest.fixture
    async def contract_gateway(self, backend: SimBackend) -> AsyncIterator[SimGateway]:
        gateway = backend.create(ExchangeConfig("sim", market_type="futures", ccxt_type="pro"))
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    async def contract_credentialed_gateway(self, backend: SimBackend) -> AsyncIterator[SimGateway]:
        config = ExchangeConfig("sim", market_type="futures", sandbox=True, credentials=CREDENTIALS)
        gateway = backend.create(config)
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    def contract_symbol(self) -> str:
        return "BTC/USDT:USDT"

    @pytest.fixture
    def contract_timeframe(self) -> str:
        return "1h"
