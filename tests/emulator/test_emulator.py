"""The emulator and its URL overrides: nothing leaves 127.0.0.1, data is binance-shaped."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from tests.emulator import BinanceEmulator, non_local_urls


@pytest.fixture
async def exchange(binance_emulator: BinanceEmulator) -> AsyncIterator[ccxt_async.binance]:
    instance = ccxt_async.binance(
        binance_emulator.overrides(apiKey=binance_emulator.api_key, secret=binance_emulator.secret)
    )
    yield instance
    await instance.close()


@pytest.mark.parametrize("pro", [False, True], ids=["regular", "pro"])
@pytest.mark.parametrize("sandbox", [False, True], ids=["live", "sandbox"])
async def test_every_url_of_the_instance_points_at_loopback(
    binance_emulator: BinanceEmulator, pro: bool, sandbox: bool
) -> None:
    module = ccxt_pro if pro else ccxt_async
    instance = module.binance(binance_emulator.overrides(pro=pro))
    try:
        if sandbox:
            instance.set_sandbox_mode(True)
        assert non_local_urls(instance) == []
        api = instance.urls["api"]
        described = module.binance().describe()["urls"]["test" if sandbox else "api"]
        assert set(api) >= set(described)
        if pro:
            assert "/stream" in api["ws"]["spot"]
            assert api["ws"]["linear"].endswith("/ws")
            assert api["ws"]["ws-api"]["spot"].startswith("ws://127.0.0.1:")
    finally:
        await instance.close()


async def test_non_local_urls_spots_a_real_host() -> None:
    instance = ccxt_async.binance()
    try:
        assert "https://api.binance.com/api/v3" in non_local_urls(instance)
    finally:
        await instance.close()


async def test_load_markets_hits_three_exchange_infos_and_is_counted(
    exchange: ccxt_async.binance, binance_emulator: BinanceEmulator
) -> None:
    await exchange.load_markets()
    assert binance_emulator.counts["/api/v3/exchangeInfo"] == 1
    assert binance_emulator.counts["/fapi/v1/exchangeInfo"] == 1
    assert binance_emulator.counts["/dapi/v1/exchangeInfo"] == 1
    assert binance_emulator.exchange_info_loads == 3
    assert {"BTC/USDT", "BTC/USDT:USDT", "BTC/USD:BTC"} <= set(exchange.symbols)
    assert set(binance_emulator.host_counts) == {
        "api.binance.com",
        "fapi.binance.com",
        "dapi.binance.com",
    }


async def test_symbol_count_is_configurable(binance_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    emulator = await binance_emulator_factory(symbols=300)
    instance = ccxt_async.binance(emulator.overrides())
    try:
        await instance.load_markets()
        assert len([m for m in instance.markets.values() if m["spot"]]) == 300
        assert len([m for m in instance.markets.values() if m["linear"]]) == 300
    finally:
        await instance.close()


async def test_klines_honour_start_end_and_limit(exchange: ccxt_async.binance) -> None:
    since = 1_699_990_000_000
    rows = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=since, limit=7)
    assert len(rows) == 7
    assert rows[0][0] >= since and rows[0][0] - since < 60_000
    assert [b[0] - a[0] for a, b in itertools.pairwise(rows)] == [60_000] * 6
    assert rows == await exchange.fetch_ohlcv("ETH/USDT", "1m", since=since, limit=7)


async def test_signed_account_accepts_the_right_key_and_refuses_a_wrong_secret(
    exchange: ccxt_async.binance, binance_emulator: BinanceEmulator
) -> None:
    balance = await exchange.fetch_balance()
    assert balance["BTC"] == {"free": 1.0, "used": 0.5, "total": 1.5}
    wrong = ccxt_async.binance(
        binance_emulator.overrides(apiKey=binance_emulator.api_key, secret="not-the-secret")
    )
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await wrong.fetch_balance()
    finally:
        await wrong.close()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("rate_limit", ccxt.DDoSProtection),  # binance raises it for any 429
        ("unavailable", ccxt.ExchangeNotAvailable),
        ("bad_symbol", ccxt.BadSymbol),
        ("auth", ccxt.AuthenticationError),
    ],
)
async def test_error_injection_yields_the_ccxt_error(
    exchange: ccxt_async.binance, binance_emulator: BinanceEmulator, kind: str, expected: type
) -> None:
    await exchange.load_markets()
    binance_emulator.fail("/ticker/24hr", kind)
    with pytest.raises(expected):
        await exchange.fetch_ticker("BTC/USDT")
    assert (await exchange.fetch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT"  # one-shot


async def test_delay_injection_times_out(binance_emulator: BinanceEmulator) -> None:
    instance = ccxt_async.binance(binance_emulator.overrides(timeout=200))
    try:
        await instance.load_markets()
        binance_emulator.fail("/depth", "delay", delay=1.0)
        with pytest.raises(ccxt.RequestTimeout):
            await instance.fetch_order_book("BTC/USDT")
    finally:
        await instance.close()
