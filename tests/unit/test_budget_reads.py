"""ReadBudget: coalescing, freshness window, maxAgeMs, stream-backed answers, private scope."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.adapters.budget import InMemoryFreshnessCache
from app.domain.budget.model import ReadReceipt
from app.domain.budget.reads import ReadBudget, ReadKey, StreamSource
from app.domain.budget.streamed import book_from_stream, ticker_from_stream
from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import ExchangeUnavailable
from app.ports.budget import StreamSnapshot
from tests.support.clock import ManualWallClock

PUBLIC = ExchangeConfig("binance")
KEYED = ExchangeConfig("binance", credentials=Credentials(api_key="k1", secret="s1"))


def key(config: ExchangeConfig = PUBLIC, data_type: str = "ticker", **args: Any) -> ReadKey:
    method = {"ticker": "fetchTicker", "orderbook": "fetchOrderBook", "balance": "fetchBalance"}
    scope = "cred-abc" if data_type == "balance" else None
    return ReadKey.of(
        config, data_type, method[data_type], {"symbol": "BTC/USDT", **args}, private_scope=scope
    )


class Upstream:
    """A fake exchange call that blocks until released and counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.error: Exception | None = None

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return {"last": 100.0 + self.calls}


async def settle() -> None:
    """Let every ready task run (a few loop turns; no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


def budget(clock: ManualWallClock, **kw: Any) -> ReadBudget:
    return ReadBudget(InMemoryFreshnessCache(100), clock, **kw)


async def test_fifty_identical_concurrent_reads_make_one_call() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    reads = budget(clock)
    receipts = [ReadReceipt() for _ in range(50)]
    tasks = [asyncio.create_task(reads.read(key(), upstream, receipt=r)) for r in receipts]
    await settle()
    assert upstream.calls == 1 and reads.in_flight() == 1
    upstream.release.set()
    results = await asyncio.gather(*tasks)
    assert results == [{"last": 101.0}] * 50
    assert sorted(r.source for r in receipts) == ["coalesced"] * 49 + ["exchange"]
    assert reads.served()["binance"] == {"exchange": 1, "coalesced": 49, "cache": 0, "stream": 0}
    assert reads.in_flight() == 0


async def test_a_shared_error_reaches_every_waiter_and_is_not_cached() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    reads = budget(clock)
    upstream.error = ExchangeUnavailable("down")
    tasks = [asyncio.create_task(reads.read(key(), upstream)) for _ in range(5)]
    await settle()
    upstream.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, ExchangeUnavailable) for o in outcomes) and upstream.calls == 1
    upstream.error = None
    assert await reads.read(key(), upstream) == {"last": 102.0}  # the error was not kept
    assert upstream.calls == 2


async def test_different_arguments_are_not_coalesced() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    reads = budget(clock)
    upstream.release.set()
    await asyncio.gather(
        reads.read(key(data_type="orderbook", limit=5), upstream),
        reads.read(key(data_type="orderbook", limit=10), upstream),
        reads.read(key(ExchangeConfig("binance", market_type="futures")), upstream),
        reads.read(key(ExchangeConfig("binance", sandbox=True)), upstream),
        reads.read(key(), upstream),
    )
    assert upstream.calls == 5


async def test_public_reads_coalesce_whatever_the_credentials() -> None:
    assert key(PUBLIC).text == key(KEYED).text
    assert "k1" not in key(KEYED).text and "s1" not in key(KEYED).text


def test_private_reads_are_scoped_by_the_credential_key_only() -> None:
    assert key(KEYED, "balance").text != key(PUBLIC, "ticker").text
    assert "cred-abc" in key(KEYED, "balance").text
    with pytest.raises(ValueError, match="credential scope"):
        ReadKey.of(KEYED, "balance", "fetchBalance", {})


async def test_fresh_answers_come_from_the_cache_until_the_max_age_passes() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    upstream.release.set()
    reads = budget(clock, max_age_ms={"ticker": 500})
    await reads.read(key(), upstream)
    clock.advance(0.4)
    receipt = ReadReceipt()
    assert await reads.read(key(), upstream, receipt=receipt) == {"last": 101.0}
    assert (receipt.source, receipt.age_ms, upstream.calls) == ("cache", 400, 1)
    clock.advance(0.2)  # 600 ms: too old
    receipt = ReadReceipt()
    assert await reads.read(key(), upstream, receipt=receipt) == {"last": 102.0}
    assert (receipt.source, receipt.age_ms, upstream.calls) == ("exchange", 0, 2)


async def test_max_age_zero_asks_the_exchange_but_still_joins_a_call_in_flight() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    upstream.release.set()
    reads = budget(clock)
    await reads.read(key(), upstream)
    receipt = ReadReceipt()
    await reads.read(key(), upstream, max_age_ms=0, receipt=receipt)
    assert (receipt.source, upstream.calls) == ("exchange", 2)
    upstream.release.clear()
    first = asyncio.create_task(reads.read(key(), upstream, max_age_ms=0))
    await settle()
    receipt = ReadReceipt()
    second = asyncio.create_task(reads.read(key(), upstream, max_age_ms=0, receipt=receipt))
    await settle()
    upstream.release.set()
    await asyncio.gather(first, second)
    assert (receipt.source, upstream.calls) == ("coalesced", 3)


def test_a_client_cannot_raise_the_configured_max_age() -> None:
    reads = budget(ManualWallClock(), max_age_ms={"ticker": 500})
    assert reads.max_age_ms("ticker", 60_000) == 500
    assert reads.max_age_ms("ticker", 100) == 100
    assert reads.max_age_ms("balance") == 0


async def test_balances_are_never_kept_with_the_default_max_age() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    upstream.release.set()
    cache = InMemoryFreshnessCache(10)
    reads = ReadBudget(cache, clock)
    await reads.read(key(KEYED, "balance"), upstream)
    await reads.read(key(KEYED, "balance"), upstream)
    assert upstream.calls == 2 and cache.size() == 0


async def test_a_cancelled_leader_does_not_cancel_the_shared_call() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    reads = budget(clock)
    leader = asyncio.create_task(reads.read(key(), upstream))
    await settle()
    follower = asyncio.create_task(reads.read(key(), upstream))
    await settle()
    leader.cancel()
    upstream.release.set()
    assert await follower == {"last": 101.0}
    assert leader.cancelled()


async def test_disabled_budget_makes_one_call_per_read() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    upstream.release.set()
    reads = budget(clock, enabled=False)
    receipts = [ReadReceipt() for _ in range(3)]
    await asyncio.gather(*(reads.read(key(), upstream, receipt=r) for r in receipts))
    assert upstream.calls == 3 and {r.source for r in receipts} == {"exchange"}


class Streams:
    def __init__(self, clock: ManualWallClock) -> None:
        self.clock = clock
        self.data: dict[tuple[Any, ...], StreamSnapshot] = {}

    def feed(self, data_type: str, data: Any) -> None:
        self.data[("binance", data_type, "BTC/USDT")] = StreamSnapshot(data, self.clock.time())

    def latest(self, config: ExchangeConfig, data_type: str, symbol: str) -> StreamSnapshot | None:
        return self.data.get((config.exchange_id, data_type, symbol))


FULL_TICKER = {"symbol": "BTC/USDT", "last": 1.0, "bid": 0.9, "ask": 1.1}


async def test_a_fresh_stream_answers_without_any_call() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    upstream.release.set()
    streams = Streams(clock)
    reads = budget(clock, streams=streams)
    streams.feed("ticker", FULL_TICKER)
    clock.advance(0.1)
    receipt = ReadReceipt()
    result = await reads.read(
        key(),
        upstream,
        receipt=receipt,
        stream=StreamSource(PUBLIC, "BTC/USDT", ticker_from_stream),
    )
    assert result == FULL_TICKER and (receipt.source, receipt.age_ms) == ("stream", 100)
    assert upstream.calls == 0
    clock.advance(1.0)  # the stream went quiet: REST again
    await reads.read(
        key(),
        upstream,
        receipt=receipt,
        stream=StreamSource(PUBLIC, "BTC/USDT", ticker_from_stream),
    )
    assert (receipt.source, upstream.calls) == ("exchange", 1)


async def test_a_mini_ticker_without_bid_ask_never_stands_in_for_rest() -> None:
    clock, upstream = ManualWallClock(), Upstream()
    upstream.release.set()
    streams = Streams(clock)
    reads = budget(clock, streams=streams)
    streams.feed("ticker", {"symbol": "BTC/USDT", "last": 1.0, "bid": None, "ask": None})
    receipt = ReadReceipt()
    await reads.read(
        key(),
        upstream,
        receipt=receipt,
        stream=StreamSource(PUBLIC, "BTC/USDT", ticker_from_stream),
    )
    assert (receipt.source, upstream.calls) == ("exchange", 1)


def test_stream_books_are_cut_to_the_limit_and_copied() -> None:
    book = {"symbol": "BTC/USDT", "bids": [[3, 1], [2, 1], [1, 1]], "asks": [[4, 1], [5, 1]]}
    cut = book_from_stream(book, 1)
    assert cut is not None and cut["bids"] == [[3, 1]] and cut["asks"] == [[4, 1]]
    assert (
        book_from_stream(book, None) == book
        and book_from_stream({"bids": [], "asks": []}, 5) is None
    )


def test_a_stream_book_shallower_than_the_limit_never_stands_in_for_rest() -> None:
    # ccxt.pro binance keeps 1,000 levels; fetchOrderBook limit=5000 must not get 1,000.
    book = {"symbol": "BTC/USDT", "bids": [[3, 1], [2, 1], [1, 1]], "asks": [[4, 1], [5, 1]]}
    assert book_from_stream(book, 3) is None  # asks hold 2 levels only
    assert book_from_stream(book, 4) is None
    exact = book_from_stream(book, 2)  # positive control: deep enough on both sides
    assert exact is not None and exact["bids"] == [[3, 1], [2, 1]] and exact["asks"] == book["asks"]
