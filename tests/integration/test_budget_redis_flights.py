"""RedisReadFlights and RedisFreshnessCache across nodes (issue 12 item 4): one exchange call
per identical read for the cluster, answers and plain errors shared, a dead lock holder or a
lost Redis never hangs a read.

Each node is its own client, cache and flights on one real redis-server, on the real clock
(the waits are a few ms; every wait is bounded).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.adapters.budget.redis_cache import RedisFreshnessCache, read_key_id
from app.adapters.budget.redis_flights import RedisReadFlights
from app.adapters.clock import SystemClock
from app.domain.budget.model import ReadReceipt
from app.domain.budget.reads import ReadBudget, ReadKey
from app.domain.config import ExchangeConfig
from app.domain.errors import BadSymbol
from app.ports.budget import CachedRead
from tests.support.redis_server import free_port

KEY = 'binance|spot|live|public|fetchTicker|{"symbol":"BTC/USDT"}'
TICKER = {"symbol": "BTC/USDT", "last": 42_000.5, "bid": 41_999.0, "ask": 42_001.0}


class Node:
    def __init__(self, url: str, **flight_options: Any) -> None:
        self.redis = Redis.from_url(url, socket_connect_timeout=0.5)
        self.cache = RedisFreshnessCache(self.redis, ttl_s=5)
        self.flights = RedisReadFlights(self.redis, self.cache, SystemClock(), **flight_options)


@pytest.fixture
async def nodes() -> AsyncIterator[Callable[..., list[Node]]]:
    made: list[Node] = []

    def make(url: str, count: int, **options: Any) -> list[Node]:
        new = [Node(url, **options) for _ in range(count)]
        made.extend(new)
        return new

    yield make
    for node in made:
        await node.redis.aclose()


class Exchange:
    """Counts calls; each call waits for ``release`` (so the others arrive meanwhile)."""

    def __init__(self, answer: Any = TICKER, error: Exception | None = None) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.answer = answer
        self.error = error

    async def fetch(self) -> Any:
        self.calls += 1
        await asyncio.wait_for(self.release.wait(), 5)
        if self.error is not None:
            raise self.error
        return self.answer


async def started(flights: list[RedisReadFlights], exchange: Exchange, max_age_s: float) -> Any:
    tasks = [asyncio.ensure_future(f.run(KEY, max_age_s, exchange.fetch)) for f in flights]
    await asyncio.sleep(0.05)  # every node has asked (the holder is inside its call)
    exchange.release.set()
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)


async def test_identical_reads_on_three_nodes_make_one_exchange_call(
    redis_url: str, nodes: Callable[..., list[Node]]
) -> None:
    cluster = nodes(redis_url, 3)
    exchange = Exchange()
    results = await started([n.flights for n in cluster], exchange, 0.5)
    assert exchange.calls == 1
    assert sorted(r.source for r in results) == ["coalesced", "coalesced", "exchange"]
    assert all(r.value == TICKER for r in results)
    assert len({r.stored_at for r in results}) == 1  # one arrival, seen by all
    # Within the max age, a fourth read anywhere is answered from the shared cache.
    again = await cluster[2].flights.run(KEY, 0.5, exchange.fetch)
    assert again.source == "cache" and exchange.calls == 1
    assert cluster[2].cache.get(KEY) is not None  # now this node's own copy too
    # Positive control: a reader wanting nothing older than 0 s gets a new call.
    exchange.release.set()
    fresh = await cluster[1].flights.run(KEY, 0.0, exchange.fetch)
    assert fresh.source == "exchange" and exchange.calls == 2


async def test_a_plain_domain_error_is_shared_others_are_retried_by_each_node(
    redis_url: str, nodes: Callable[..., list[Node]]
) -> None:
    cluster = nodes(redis_url, 2)
    bad = Exchange(error=BadSymbol("binance does not have market symbol NOPE/USDT"))
    results = await started([n.flights for n in cluster], bad, 0.5)
    assert bad.calls == 1
    assert all(isinstance(r, BadSymbol) for r in results)
    assert {r.details for r in results} == {"binance does not have market symbol NOPE/USDT"}
    odd = Exchange(error=RuntimeError("not a domain error"))
    results = await started([n.flights for n in cluster], odd, 0.5)
    assert odd.calls == 2  # not shareable: the waiting node tried the call itself
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_dead_lock_holder_blocks_a_read_only_until_its_lock_expires(
    redis_url: str, nodes: Callable[..., list[Node]]
) -> None:
    (node,) = nodes(redis_url, 1)
    # A node took the lock and died (kill -9): nobody renews or releases it.
    lock = f"pm:flight:{read_key_id(KEY)}"
    await node.redis.set(lock, "dead-node", px=300)
    exchange = Exchange()
    exchange.release.set()
    began = time.monotonic()
    result = await asyncio.wait_for(node.flights.run(KEY, 0.5, exchange.fetch), 5)
    waited = time.monotonic() - began
    assert result.source == "exchange" and exchange.calls == 1
    assert 0.2 <= waited < 2.0  # waited for the expiry, not for the 15 s bound


async def test_a_live_holder_renews_its_lock_so_nobody_calls_twice(
    redis_url: str, nodes: Callable[..., list[Node]]
) -> None:
    cluster = nodes(redis_url, 2, lock_ttl_s=0.3)  # renewed every 0.1 s
    exchange = Exchange()
    first = asyncio.ensure_future(cluster[0].flights.run(KEY, 0.5, exchange.fetch))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(cluster[1].flights.run(KEY, 0.5, exchange.fetch))
    await asyncio.sleep(0.8)  # well past the lock's time to live: renewed meanwhile
    assert exchange.calls == 1
    exchange.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [r.source for r in results] == ["exchange", "coalesced"] and exchange.calls == 1


async def test_redis_away_the_node_calls_itself_at_once(
    nodes: Callable[..., list[Node]],
) -> None:
    (node,) = nodes(f"redis://127.0.0.1:{free_port()}/0", 1)  # nothing listens there
    exchange = Exchange()
    exchange.release.set()
    result = await asyncio.wait_for(node.flights.run(KEY, 0.5, exchange.fetch), 5)
    assert result.source == "exchange" and result.value == TICKER and exchange.calls == 1
    assert node.cache.get(KEY) is not None  # kept on this node meanwhile
    again = await node.flights.run(KEY, 0.5, exchange.fetch)
    assert again.source == "cache" and exchange.calls == 1


async def test_read_budget_on_two_nodes_private_reads_stay_per_node(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    try:
        budgets = []
        for client in clients:
            cache = RedisFreshnessCache(client, ttl_s=5)
            flights = RedisReadFlights(client, cache, SystemClock())
            budgets.append(ReadBudget(cache, SystemClock(), flights=flights))
        config = ExchangeConfig(exchange_id="binance")
        ticker = ReadKey.of(config, "ticker", "fetchTicker", {"symbol": "BTC/USDT"})
        exchange = Exchange()
        receipts = [ReadReceipt(), ReadReceipt()]
        tasks = [
            asyncio.ensure_future(b.read(ticker, exchange.fetch, receipt=r))
            for b, r in zip(budgets, receipts, strict=True)
        ]
        await asyncio.sleep(0.05)
        exchange.release.set()
        assert await asyncio.gather(*tasks) == [TICKER, TICKER]
        assert exchange.calls == 1
        assert sorted(r.source for r in receipts) == ["coalesced", "exchange"]
        # Balance (private, no max age): each node's own call, nothing of it in Redis.
        balance = ReadKey.of(config, "balance", "fetchBalance", {}, private_scope="cred-abc")
        wallet = Exchange(answer={"USDT": {"free": 1.0}})
        wallet.release.set()
        for budget in budgets:
            await budget.read(balance, wallet.fetch)
        assert wallet.calls == 2
        keys = [k.decode() for k in await clients[0].keys("*")]
        assert not any("fetchBalance" in k for k in keys)
        assert any("fetchTicker" in k for k in keys)  # positive control
    finally:
        for client in clients:
            await client.aclose()


async def test_redis_keys_hold_no_scope_or_arguments(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        cache = RedisFreshnessCache(client, ttl_s=5)
        text = 'binance|spot|live|cred-5ecret-hmac|fetchMyTrades|{"symbol":"BTC/USDT"}'
        await cache.store(text, CachedRead([], 1.0))
        (key,) = [k.decode() for k in await client.keys("*")]
        assert key.startswith("pm:read:binance:fetchMyTrades:")
        assert "5ecret" not in key and "BTC" not in key and "cred" not in key
        assert 0 < await client.pttl(key) <= 5000  # bounded in time
    finally:
        await client.aclose()
