"""An owner publishes only while another node follows the stream (ADR 0171), on real
redis-server processes: nothing reaches Redis per update while nobody else listens, and a
node that starts following still gets the owner's latest update (cached) and every update
after it, with no gap, even while the exchange keeps pushing during the join.

Nodes are in-process ``StreamHub``s with their own Redis clients (``Node`` of
``test_cluster_streams``); Redis command counts come from the test's own redis-server
(``INFO commandstats``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.testing import eventually
from tests.integration.test_cluster_streams import Node, ticker
from tests.support.redis_server import RedisServer

SLOW_TTL = 30.0
"""Rounds every 10 s: within a test only a join notice can turn publishing on."""


async def command_calls(redis: Redis, command: str) -> int:
    """Calls of ``command`` since the last ``CONFIG RESETSTAT`` (scripts' calls included)."""
    stats = await redis.info("commandstats")
    entry = stats.get(f"cmdstat_{command}")
    return int(entry["calls"]) if entry else 0


@pytest.fixture
async def pair(own_redis_server: RedisServer) -> AsyncIterator[tuple[Node, Node]]:
    a = Node("a", own_redis_server.url, ttl=SLOW_TTL)
    b = Node("b", own_redis_server.url, ttl=SLOW_TTL)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def push_seen(node: Node, last: float) -> None:
    """Push one update at the owner's exchange and wait until its subscriber has it."""
    await eventually(lambda: node.push({"symbol": "BTC/USDT", "last": last}) > 0)
    await eventually(lambda: node.seen(last))


async def test_an_owner_nobody_follows_publishes_nothing_and_a_joiner_gets_its_latest(
    pair: tuple[Node, Node],
) -> None:
    a, b = pair
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    await a.redis.config_resetstat()
    for n in range(1, 21):
        await push_seen(a, float(n))
    # Nobody else listens: 20 updates, no publish, nothing stored, only counted as skipped.
    assert await command_calls(a.redis, "publish") == 0
    assert await command_calls(a.redis, "evalsha") == 0
    assert await a.redis.keys("pm:latest:*") == []
    assert a.ownership.counters.skipped == 20
    delivered_at = a.publisher.updates[-1][0].timestamp

    subscription = await b.streams.subscribe("cb", ticker())  # b follows: it sends a join
    await b.streams.greet("cb", subscription.subscription_id)
    [(update, _to)] = b.publisher.updates
    assert update.cached and update.data["last"] == 20.0 and update.timestamp == delivered_at
    await push_seen(a, 21.0)  # the next one is published, long before a's next round
    await eventually(lambda: b.seen(21.0))
    assert [(u.data["last"], u.cached) for u, _ in b.publisher.updates] == [
        (20.0, True),
        (21.0, False),
    ]
    assert a.ownership.counters.skipped == 20
    assert await command_calls(a.redis, "publish") >= 3  # latest again, sync, 21.0


async def test_a_joiner_misses_nothing_while_the_exchange_keeps_pushing(
    pair: tuple[Node, Node],
) -> None:
    a, b = pair
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    await push_seen(a, 0.0)
    pushed: list[float] = []

    async def exchange() -> None:  # bounded: at most 2,000 updates, ~200 per second
        for _ in range(2000):
            value = float(len(pushed) + 1)
            if a.push({"symbol": "BTC/USDT", "last": value}):
                pushed.append(value)
            await asyncio.sleep(0.005)

    ticking = asyncio.ensure_future(exchange())
    try:
        await eventually(lambda: len(pushed) >= 20)
        assert a.ownership.counters.skipped >= 20  # positive control: it was skipping
        subscription = await b.streams.subscribe("cb", ticker())
        await b.streams.greet("cb", subscription.subscription_id)
        joined_at = len(pushed)
        await eventually(lambda: len(pushed) >= joined_at + 40)
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
    await eventually(lambda: b.seen(pushed[-1]))
    seen = [u.data["last"] for u, _ in b.publisher.updates]
    first = seen[0]
    assert first <= joined_at  # it starts from what was there when it joined...
    # ...and from that first update on it gets every update, once, in order.
    assert seen == [first + i for i in range(len(seen))]
    assert seen[-1] == pushed[-1] and len(seen) >= 40


async def test_publishing_stops_again_when_the_last_follower_leaves(
    own_redis_server: RedisServer,
) -> None:
    a = Node("a", own_redis_server.url)  # the default test TTL: rounds every 0.5 s
    b = Node("b", own_redis_server.url)
    try:
        await a.streams.subscribe("ca", ticker())
        await eventually(lambda: a.watching() == 1)
        await b.streams.subscribe("cb", ticker())
        await push_seen(a, 1.0)
        await eventually(lambda: b.seen(1.0))
        assert a.ownership.counters.skipped == 0  # positive control: b follows, all published
        assert b.streams.unsubscribe("cb", "cb:fake:BTC/USDT:ticker")
        pushes = iter(range(2, 200))

        async def skipping() -> bool:  # after a's next round has seen b's heartbeat go
            await push_seen(a, float(next(pushes)))
            return a.ownership.counters.skipped > 0

        await eventually(skipping, timeout=5)
        assert not b.seen(2.0)
    finally:
        await a.close()
        await b.close()
