"""The ExchangeGateway contract kit on ccxt.pro binance spot, streams from the WS emulator.

The gateway is built by ``CcxtBackend`` with ``ccxtType: "pro"`` and the operator overrides
``emulator.overrides(pro=True)``, so watch_ticker / watch_trades / watch_order_book /
watch_ohlcv run ccxt.pro's real code (subscribe, parse, order book snapshot + diff sync)
against loopback sockets. Balance streaming is skipped (spot watch_balance uses the signed
WS API, which the emulator does not serve).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.adapters.ccxt.backend import CcxtBackend
from app.adapters.ccxt.gateway import CcxtGateway
from app.domain.config import Credentials, ExchangeConfig
from app.settings import ExchangeSettings, Settings
from app.testing.contract import ExchangeGatewayContract
from tests.emulator import BinanceEmulator, non_local_urls
from tests.emulator.fixtures import binance_emulator  # noqa: F401


def pro_backend(emulator: BinanceEmulator) -> CcxtBackend:
    overrides = emulator.overrides(pro=True, enableRateLimit=False)
    return CcxtBackend(Settings(exchanges={"binance": ExchangeSettings(ccxt=overrides)}))


async def pro_gateway(emulator: BinanceEmulator, **config: object) -> CcxtGateway:
    gateway = pro_backend(emulator).create(ExchangeConfig("binance", ccxt_type="pro", **config))  # type: ignore[arg-type]
    assert gateway.is_pro
    assert non_local_urls(gateway.exchange) == []
    await gateway.load_markets()
    return gateway


class TestCcxtProGatewaySpot(ExchangeGatewayContract):
    @pytest.fixture
    async def contract_gateway(
        self,
        binance_emulator: BinanceEmulator,  # noqa: F811
    ) -> AsyncIterator[CcxtGateway]:
        gateway = await pro_gateway(binance_emulator)
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
        gateway = await pro_gateway(binance_emulator, credentials=credentials)
        yield gateway
        await gateway.close()

    async def test_watch_balance_yields_a_balance(self) -> None:  # type: ignore[override]
        pytest.skip("spot watch_balance uses the signed WS API; the emulator serves streams only")


async def test_the_watch_calls_really_went_over_the_emulator_sockets(
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    """The contract's stream updates came from the emulator, one SUBSCRIBE per stream."""
    import asyncio

    gateway = await pro_gateway(binance_emulator)
    try:
        ticker = await asyncio.wait_for(gateway.watch_ticker("BTC/USDT"), 5)
        trades = await asyncio.wait_for(gateway.watch_trades("BTC/USDT"), 5)
        book = await asyncio.wait_for(gateway.watch_order_book("BTC/USDT"), 5)
        candles = await asyncio.wait_for(gateway.watch_ohlcv("BTC/USDT", "1m"), 5)
    finally:
        await gateway.close()
    ws = binance_emulator.ws
    for stream in (
        "btcusdt@miniTicker",
        "btcusdt@trade",
        "btcusdt@depth@100ms",
        "btcusdt@kline_1m",
    ):
        assert ws.subscribe_count(stream) == 1, ws.log
    assert ticker["info"]["e"] == "24hrMiniTicker" and ticker["last"] > 0
    assert trades[-1]["info"]["e"] == "trade"
    assert int(trades[-1]["id"]) > binance_emulator.now_ms // 1000  # after the REST trades
    assert book["nonce"] > 1000 and len(book["bids"]) == 1000  # REST snapshot + diffs
    assert binance_emulator.count("/api/v3/depth") == 1
    assert candles[-1][0] == binance_emulator.now_ms // 60_000 * 60_000
    await ws.wait_until(lambda: ws.connections == 0, what="sockets closed by close()")
