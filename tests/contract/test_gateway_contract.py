"""The ExchangeGateway contract kit, run against the fake and the CCXT adapter (emulated binance)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.adapters.ccxt.backend import CcxtBackend
from app.adapters.ccxt.gateway import CcxtGateway
from app.domain.config import Credentials, ExchangeConfig
from app.settings import ExchangeSettings, Settings
from app.testing.contract import ExchangeGatewayContract
from app.testing.fakes import FakeExchangeGateway
from app.testing.pytest_plugin import push_sample
from tests.emulator import BinanceEmulator
from tests.emulator.fixtures import binance_emulator  # noqa: F401


class TestFakeGateway(ExchangeGatewayContract):
    @pytest.fixture
    async def contract_gateway(self) -> AsyncIterator[FakeExchangeGateway]:
        gateway = FakeExchangeGateway()
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    def contract_symbol(self) -> str:
        return "BTC/USDT"

    @pytest.fixture
    async def contract_credentialed_gateway(self) -> AsyncIterator[FakeExchangeGateway]:
        config = ExchangeConfig("fake", credentials=Credentials(api_key="k", secret="s"))
        gateway = FakeExchangeGateway(config=config)
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    def contract_stream_trigger(self) -> Any:
        return push_sample


def _backend(emulator: BinanceEmulator) -> CcxtBackend:
    settings = Settings(
        exchanges={"binance": ExchangeSettings(ccxt=emulator.overrides(enableRateLimit=False))}
    )
    return CcxtBackend(settings)


class TestCcxtGatewayRegular(ExchangeGatewayContract):
    @pytest.fixture
    async def contract_gateway(
        self,
        binance_emulator: BinanceEmulator,  # noqa: F811
    ) -> AsyncIterator[CcxtGateway]:
        gateway = _backend(binance_emulator).create(ExchangeConfig("binance"))
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    def contract_symbol(self) -> str:
        return "BTC/USDT"

    @pytest.fixture
    async def contract_credentialed_gateway(
        self,
        binance_emulator: BinanceEmulator,  # noqa: F811
    ) -> AsyncIterator[CcxtGateway]:
        credentials = Credentials(api_key=binance_emulator.api_key, secret=binance_emulator.secret)
        gateway = _backend(binance_emulator).create(
            ExchangeConfig("binance", credentials=credentials)
        )
        await gateway.load_markets()
        yield gateway
        await gateway.close()


class TestCcxtGatewayFutures(TestCcxtGatewayRegular):
    """The same suite on the USD-M perpetual, selected by marketType futures."""

    @pytest.fixture
    async def contract_gateway(
        self,
        binance_emulator: BinanceEmulator,  # noqa: F811
    ) -> AsyncIterator[CcxtGateway]:
        gateway = _backend(binance_emulator).create(
            ExchangeConfig("binance", market_type="futures")
        )
        await gateway.load_markets()
        yield gateway
        await gateway.close()

    @pytest.fixture
    def contract_symbol(self) -> str:
        return "BTC/USDT:USDT"

    @pytest.fixture
    def contract_credentialed_gateway(self) -> None:
        return None  # the emulator signs spot only
