"""The in-memory fakes behave as their docstrings promise (others' tests rely on them)."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import (
    BadSymbol,
    CredentialsRequired,
    ExchangeUnreachable,
    NotSupported,
    RateLimited,
)
from app.ports import ExchangeBackend, ExchangeGateway
from app.testing.fakes import FakeBackend, FakeExchangeGateway


def test_fakes_satisfy_the_ports() -> None:
    assert isinstance(FakeExchangeGateway(), ExchangeGateway)
    assert isinstance(FakeBackend(), ExchangeBackend)


async def test_load_markets_counts_and_honours_the_delay() -> None:
    fake = FakeExchangeGateway(load_markets_delay=0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await fake.load_markets()
    assert loop.time() - start >= 0.04
    assert fake.calls["load_markets"] == 1
    assert fake.markets_loaded


async def test_share_from_reuses_the_same_markets_object_without_a_load() -> None:
    a, b = FakeExchangeGateway(), FakeExchangeGateway()
    await a.load_markets()
    await b.load_markets(share_from=a)
    assert b.markets is a.markets
    assert b.calls["load_markets"] == 0


async def test_fail_next_raises_the_given_error_the_given_number_of_times() -> None:
    fake = FakeExchangeGateway()
    fake.fail_next("fetch_ticker", RateLimited("slow down"), times=2)
    for _ in range(2):
        with pytest.raises(RateLimited):
            await fake.fetch_ticker("BTC/USDT")
    assert (await fake.fetch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT"
    assert fake.calls["fetch_ticker"] == 3


async def test_last_args_records_since_limit_and_params() -> None:
    fake = FakeExchangeGateway()
    await fake.fetch_trades("BTC/USDT", 1_699_999_990_000, 3, {"x": 1})
    assert fake.last_args["fetch_trades"] == ("BTC/USDT", 1_699_999_990_000, 3, {"x": 1})
    await fake.fetch_ohlcv("ETH/USDT", "5m", None, 2)
    assert fake.last_args["fetch_ohlcv"] == ("ETH/USDT", "5m", None, 2, None)


async def test_has_false_gives_not_supported_and_unknown_symbol_bad_symbol() -> None:
    fake = FakeExchangeGateway(has={"fetchTrades": False})
    with pytest.raises(NotSupported):
        await fake.fetch_trades("BTC/USDT")
    with pytest.raises(BadSymbol):
        await fake.fetch_ticker("NOPE/USDT")


async def test_balance_needs_credentials() -> None:
    with pytest.raises(CredentialsRequired):
        await FakeExchangeGateway().fetch_balance()
    config = ExchangeConfig("fake", credentials=Credentials(api_key="k", secret="s"))
    balance = await FakeExchangeGateway(config=config).fetch_balance()
    assert balance["BTC"]["free"] + balance["BTC"]["used"] == balance["BTC"]["total"]


async def test_push_resolves_every_pending_watcher_of_the_stream_only() -> None:
    fake = FakeExchangeGateway()
    first = asyncio.create_task(fake.watch_ticker("BTC/USDT"))
    second = asyncio.create_task(fake.watch_ticker("BTC/USDT"))
    other = asyncio.create_task(fake.watch_ticker("ETH/USDT"))
    assert await fake.wait_for_watchers("ticker", "BTC/USDT", n=2) == 2
    assert fake.push("ticker", "BTC/USDT", {"last": 1.0}) == 2
    assert await asyncio.wait_for(first, 1) == {"last": 1.0}
    assert await asyncio.wait_for(second, 1) == {"last": 1.0}
    assert not other.done()
    other.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other
    assert fake.pending_watchers("ticker", "ETH/USDT") == 0


async def test_ohlcv_watchers_are_keyed_by_timeframe() -> None:
    fake = FakeExchangeGateway()
    task = asyncio.create_task(fake.watch_ohlcv("BTC/USDT", "5m"))
    await fake.wait_for_watchers("ohlcv", "BTC/USDT", timeframe="5m")
    assert fake.push("ohlcv", "BTC/USDT", [[1, 1, 1, 1, 1, 1]], timeframe="1m") == 0
    assert fake.push("ohlcv", "BTC/USDT", [[2, 1, 1, 1, 1, 1]], timeframe="5m") == 1
    assert await asyncio.wait_for(task, 1) == [[2, 1, 1, 1, 1, 1]]


async def test_wait_for_watchers_times_out() -> None:
    with pytest.raises(TimeoutError):
        await FakeExchangeGateway().wait_for_watchers("ticker", "BTC/USDT", timeout=0.05)


async def test_close_is_idempotent_and_fails_pending_watchers() -> None:
    fake = FakeExchangeGateway()
    task = asyncio.create_task(fake.watch_trades("BTC/USDT"))
    await fake.wait_for_watchers("trades", "BTC/USDT")
    await fake.close()
    await fake.close()
    assert fake.closed
    with pytest.raises(ExchangeUnreachable, match="connection closed"):
        await asyncio.wait_for(task, 1)


async def test_backend_creates_and_records_gateways() -> None:
    backend = FakeBackend(exchange_ids=frozenset({"fake", "other"}), load_markets_delay=0.0)
    gateway = backend.create(ExchangeConfig("other", market_type="futures"))
    assert gateway.exchange_id == "other"
    assert gateway.config.market_type == "futures"
    assert backend.created == [gateway]
    assert backend.exchange_ids() == frozenset({"fake", "other"})
    await backend.aclose()
    assert backend.closed
