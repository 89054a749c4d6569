"""The FreshnessCache contract, one suite run against the in-process and the Redis adapter.

``get``/``put``: this node's copy, bounded, least recently stored out first. ``load``/
``store``: the answer every node sees (in one process the same copy). Answers are the plain
data ccxt returns; they come back equal, with their arrival time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.adapters.budget import InMemoryFreshnessCache
from app.ports.budget import CachedRead, FreshnessCache

Make = Callable[..., FreshnessCache]

TICKER = {
    "symbol": "BTC/USDT",
    "timestamp": 1_700_000_000_123,
    "last": 42_000.5,
    "bid": 41_999.0,
    "ask": 42_001,
    "baseVolume": None,
    "info": {"symbol": "BTCUSDT", "lastPrice": "42000.50"},
}
BOOK = {"bids": [[42_000.0, 1.5], [41_999.5, 0.25]], "asks": [[42_001.0, 2.0]], "nonce": 7}
KEY = 'binance|spot|live|public|fetchTicker|{"symbol":"BTC/USDT"}'


@pytest.fixture(params=["in-process", "redis"])
async def make_cache(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """``make_cache(max_entries=...)`` of either kind (Redis: a fresh database per test)."""
    if request.param == "in-process":
        yield lambda max_entries=100: InMemoryFreshnessCache(max_entries)
        return
    from redis.asyncio import Redis

    from app.adapters.budget.redis_cache import RedisFreshnessCache

    url = request.getfixturevalue("redis_url")
    clients: list[Any] = []

    def make(max_entries: int = 100) -> FreshnessCache:
        client = Redis.from_url(url)
        clients.append(client)
        return RedisFreshnessCache(client, max_entries=max_entries, ttl_s=5)

    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()


async def test_an_answer_comes_back_equal_with_its_arrival_time(make_cache: Make) -> None:
    cache = make_cache()
    assert cache.get(KEY) is None and await cache.load(KEY) is None
    await cache.store(KEY, CachedRead(TICKER, 1_700_000_000.25))
    for entry in (cache.get(KEY), await cache.load(KEY)):
        assert entry is not None
        assert entry.value == TICKER and entry.stored_at == 1_700_000_000.25
    assert cache.size() == 1


async def test_put_and_get_are_this_node_s_copy_without_io(make_cache: Make) -> None:
    cache = make_cache()
    cache.put("book", CachedRead(BOOK, 5.0))
    entry = cache.get("book")
    assert entry is not None and entry.value == BOOK and entry.stored_at == 5.0
    loaded = await cache.load("book")
    assert loaded is not None and loaded.value == BOOK


async def test_a_newer_answer_replaces_the_older_one(make_cache: Make) -> None:
    cache = make_cache()
    await cache.store(KEY, CachedRead({"last": 1}, 10.0))
    await cache.store(KEY, CachedRead({"last": 2}, 11.0))
    loaded = await cache.load(KEY)
    assert loaded is not None and loaded.value == {"last": 2} and loaded.stored_at == 11.0
    assert cache.size() == 1


async def test_this_node_s_copy_is_bounded_least_recently_stored_out_first(
    make_cache: Make,
) -> None:
    cache = make_cache(max_entries=3)
    for i in range(4):
        cache.put(f"k{i}", CachedRead(i, float(i)))
    assert cache.size() == 3
    assert cache.get("k0") is None  # the oldest went
    assert [cache.get(f"k{i}").value for i in (1, 2, 3)] == [1, 2, 3]  # type: ignore[union-attr]
    cache.put("k1", CachedRead(10, 10.0))  # stored again: now the most recent
    cache.put("k4", CachedRead(4, 4.0))
    assert cache.get("k2") is None and cache.get("k1") is not None
