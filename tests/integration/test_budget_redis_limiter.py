"""RedisRateBudget across nodes (issue 12 item 4): one window, one stop, one published limit;
Redis away: each node on its share of the limit, shared again when Redis returns.

Nodes are adapters with their own client on one real redis-server, on one manual clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.adapters.budget.redis_limiter import RedisRateBudget
from app.domain.budget.model import BudgetExhausted
from app.domain.budget.rules import rules_for
from tests.support.clock import ManualWallClock
from tests.support.redis_server import RedisServer

MINUTE_START = 1_700_000_040.0

Nodes = Callable[..., list[RedisRateBudget]]


@pytest.fixture
async def nodes() -> AsyncIterator[Callable[[str, ManualWallClock, int], list[RedisRateBudget]]]:
    clients: list[Redis] = []

    def make(url: str, clock: ManualWallClock, count: int, **options: Any) -> list[RedisRateBudget]:
        made = []
        for i in range(count):
            client = Redis.from_url(url, socket_connect_timeout=0.5)
            clients.append(client)
            budget = RedisRateBudget(
                client,
                clock,
                max_queue_wait_s=options.get("wait_s", 0.0),
                reserve_fraction=0.1,
                node_id=f"node-{i}",
            )
            budget.configure(rules_for("binance", rate_limit_ms=50, weight_per_minute=100))
            made.append(budget)
        return made

    yield make
    for client in clients:
        await client.aclose()


async def test_nodes_together_stay_inside_one_budget(redis_url: str, nodes: Nodes) -> None:
    clock = ManualWallClock(MINUTE_START + 5)
    a, b, c = nodes(redis_url, clock, 3)
    for node in (a, b, c, a, b, c, a, b, c):  # 9 x 10 = the ceiling of 90, spread
        await node.acquire("binance", "api", 10)
    for node in (a, b, c):
        with pytest.raises(BudgetExhausted):
            await node.acquire("binance", "api", 10)
    await b.refresh()
    snap = b.snapshot()["binance"]
    family = snap["families"]["api"]
    assert (family["weightUsed"], family["requests"], family["refused"]) == (90, 9, 3)
    assert snap["shared"] is True and snap["nodesSharing"] == 3
    clock.advance(60)  # positive control: the next minute has room again, for every node
    for node in (a, b, c):
        await node.acquire("binance", "api", 10)


async def test_a_stop_one_node_learns_refuses_every_node(redis_url: str, nodes: Nodes) -> None:
    clock = ManualWallClock(MINUTE_START)
    a, b = nodes(redis_url, clock, 2, wait_s=30)
    await b.acquire("binance", "api", 1)  # positive control: b was sending before the stop
    a.stop("binance", 429, 5)  # what ccxt's response hook calls on a 429
    await a.refresh()  # a's write is in Redis (it is sent in the background)
    with pytest.raises(BudgetExhausted) as caught:
        await b.acquire("binance", "fapi", 1)  # every family, at once despite the queue wait
    assert caught.value.retry_after_s == pytest.approx(5) and clock.slept == []
    await b.refresh()
    assert b.snapshot()["binance"]["stops"] == {"429": 1}
    assert b.snapshot()["binance"]["stoppedForSeconds"] == 5
    clock.advance(5)
    await b.acquire("binance", "api", 1)


async def test_the_published_limit_and_used_weight_are_shared(redis_url: str) -> None:
    clock = ManualWallClock(MINUTE_START)
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    try:
        a, b = (RedisRateBudget(c, clock, max_queue_wait_s=0, reserve_fraction=0) for c in clients)
        for node in (a, b):
            node.configure(rules_for("binance", rate_limit_ms=50))
        a.set_published_limit("binance", "api", 30)  # a loaded exchangeInfo; b did not
        a.observe_used("binance", "api", 25)  # and saw the exchange's count
        await a.refresh()
        await b.acquire("binance", "api", 5)  # 25 + 5 = 30: the last room
        with pytest.raises(BudgetExhausted):
            await b.acquire("binance", "api", 1)
        await b.refresh()
        family = b.snapshot()["binance"]["families"]["api"]
        assert family["weightPerMinute"] == 30 and family["limitSource"] == "exchangeInfo"
        assert family["exchangeReportedUsed"] == 25
    finally:
        for client in clients:
            await client.aclose()


async def test_redis_away_each_node_keeps_its_share_then_shares_again(
    own_redis_server: RedisServer, nodes: Nodes
) -> None:
    clock = ManualWallClock(MINUTE_START)
    a, b = nodes(own_redis_server.url, clock, 2)
    for node in (b, a):  # a learns (from its own reply) that two nodes share the budget
        await node.acquire("binance", "api", 10)
    own_redis_server.kill()
    clock.advance(60)  # a new minute, Redis still away
    granted = 0
    for _ in range(10):  # bounded: the share is 45 of 100 (90 % ceiling / 2 nodes)
        try:
            await a.acquire("binance", "api", 10)
            granted += 1
        except BudgetExhausted:
            break
    assert granted == 4  # 40 <= 45 < 50: served alone, within its share
    snap = a.snapshot()["binance"]
    assert snap["shared"] is False and snap["families"]["api"]["weightUsed"] == 40
    own_redis_server.start()  # empty (no persistence): a fresh shared count
    clock.advance(1.0)  # the retry interval
    await a.acquire("binance", "api", 10)
    await a.refresh()
    snap = a.snapshot()["binance"]
    assert snap["shared"] is True and snap["families"]["api"]["weightUsed"] == 10


async def test_the_container_picks_the_redis_adapters_only_in_cluster_mode(redis_url: str) -> None:
    from app.adapters.budget import InMemoryFreshnessCache, InMemoryRateBudget
    from app.adapters.budget.redis_cache import RedisFreshnessCache
    from app.adapters.budget.redis_flights import RedisReadFlights
    from app.container import build_container
    from app.settings import load_settings

    single = build_container(load_settings(env={}))
    assert isinstance(single.rate_budget(), InMemoryRateBudget)
    assert isinstance(single.freshness_cache(), InMemoryFreshnessCache)
    assert single.read_flights() is None
    node = build_container(load_settings(env={"REDIS_URL": redis_url}))
    try:
        assert isinstance(node.rate_budget(), RedisRateBudget)
        assert isinstance(node.freshness_cache(), RedisFreshnessCache)
        assert isinstance(node.read_flights(), RedisReadFlights)
    finally:
        client = node.redis()
        assert client is not None
        await client.aclose()


async def test_a_scrape_s_snapshot_catches_up_with_the_other_nodes(
    redis_url: str, nodes: Nodes
) -> None:
    from app.testing import eventually

    clock = ManualWallClock(MINUTE_START)
    a, b = nodes(redis_url, clock, 2)
    await b.acquire("binance", "api", 1)
    for _ in range(4):
        await a.acquire("binance", "api", 1)
    # b's own copy knows only its request; the snapshot starts a re-read (no await: scrapes
    # are synchronous), and a later snapshot shows the cluster's five.
    assert b.snapshot()["binance"]["families"]["api"]["requests"] == 1
    await eventually(
        lambda: b.snapshot()["binance"]["families"]["api"]["requests"] == 5,
        timeout=5,
        message="b's snapshot shows a's requests",
    )
