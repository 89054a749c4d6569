"""Stream ownership across nodes on a real redis-server (issue 12 items 1-2, ADR 0140).

Each "node" is a StreamHub with its own fake backend, instance cache, publisher and
RedisStreamOwnership (its own Redis client), all in this event loop: what one node's
exchange sees is its backend's watchers; what its clients see is its publisher's record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.adapters.cache.keys import CacheKeyer
from app.adapters.cache.memory import InMemoryInstanceCache
from app.adapters.cluster.redis_ownership import RedisStreamOwnership
from app.domain.config import Credentials, ExchangeConfig
from app.domain.streams import StreamHub, StreamRequest, StreamService, SubscriptionRegistry
from app.domain.streams.upstream import GENERIC_ERROR
from app.settings import CacheSettings, StreamSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.support.redis_server import RedisServer
from tests.unit.test_stream_hub import RecordingPublisher

TTL = 1.5  # rounds every 0.5 s: a loaded CI loop never loses a lease by accident; default 3 s


def ticker(symbol: str = "BTC/USDT", **config: Any) -> StreamRequest:
    return StreamRequest(
        config=ExchangeConfig(exchange_id="fake", ccxt_type="pro", **config),
        data_type="ticker",
        symbol=symbol,
    )


class Node:
    """One cluster node's stream side, wired as the container wires it."""

    def __init__(
        self, name: str, redis_url: str, secret: bytes = b"cluster-secret", ttl: float = TTL
    ) -> None:
        self.name = name
        self.backend = FakeBackend()
        self.redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=1)
        self.ownership = RedisStreamOwnership(self.redis, lease_ttl_seconds=ttl, node_id=name)
        self.cache = InMemoryInstanceCache(
            self.backend.create, CacheSettings(), keyer=CacheKeyer(secret)
        )
        self.publisher = RecordingPublisher()
        registry = SubscriptionRegistry()
        settings = StreamSettings(retry_initial_seconds=0.01, retry_max_seconds=0.05)
        self.hub = StreamHub(
            self.cache,
            self.publisher,
            settings,
            on_subscribers_ended=registry.forget_ended,
            ownership=self.ownership,
        )
        self.streams = StreamService(self.hub, registry, StreamSettings())

    def watching(self, data_type: str = "ticker", symbol: str = "BTC/USDT") -> int:
        """Watch calls this node's exchange has waiting for one stream (0: no upstream)."""
        return sum(g.pending_watchers(data_type, symbol) for g in self.backend.created)

    def push(self, data: Any, data_type: str = "ticker", symbol: str = "BTC/USDT") -> int:
        return sum(g.push(data_type, symbol, data) for g in self.backend.created)

    def owner(self) -> bool:
        return any(s.owner for s in self.hub.snapshot())

    def seen(self, last: float) -> bool:
        return any(u.data.get("last") == last for u, _ in self.publisher.updates)

    async def close(self) -> None:
        await self.hub.aclose()
        await self.ownership.aclose()
        await self.cache.aclose()
        await self.redis.aclose()


@pytest.fixture
async def nodes(redis_url: str) -> AsyncIterator[Callable[[str], Node]]:
    made: list[Node] = []

    def make(name: str) -> Node:
        node = Node(name, redis_url)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.close()


async def test_one_upstream_for_the_cluster_and_every_node_delivers(
    nodes: Callable[[str], Node],
) -> None:
    a, b, c = nodes("a"), nodes("b"), nodes("c")
    await a.streams.subscribe("ca", ticker())
    await b.streams.subscribe("cb", ticker())
    await c.streams.subscribe("cc", ticker())
    await eventually(lambda: a.watching() + b.watching() + c.watching() == 1)
    owners = [n for n in (a, b, c) if n.watching()]
    assert [n.owner() for n in owners] == [True]
    followers = [n for n in (a, b, c) if not n.watching()]
    assert [n.owner() for n in followers] == [False, False]
    # One exchange update reaches every node's subscriber, once.
    owners[0].push({"symbol": "BTC/USDT", "last": 101.0})
    await eventually(lambda: all(n.seen(101.0) for n in (a, b, c)))
    for node in (a, b, c):
        assert [u.data["last"] for u, _ in node.publisher.updates] == [101.0]


async def test_release_when_the_last_subscriber_of_the_cluster_leaves(
    nodes: Callable[[str], Node],
) -> None:
    a, b = nodes("a"), nodes("b")
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    await b.streams.subscribe("cb", ticker())
    # The owner's own subscriber leaves: the loop stays, a follower still listens.
    assert a.streams.unsubscribe("ca", "ca:fake:BTC/USDT:ticker")
    a.push({"symbol": "BTC/USDT", "last": 7.0})
    await eventually(lambda: b.seen(7.0))
    assert a.watching() == 1 and a.owner()
    # The follower's leaves too: the owner stops the upstream and gives up the lease.
    assert b.streams.unsubscribe("cb", "cb:fake:BTC/USDT:ticker")
    await eventually(lambda: a.hub.snapshot() == [] and a.watching() == 0, timeout=5)
    assert any(g.un_watched for g in a.backend.created)  # the exchange subscription released
    assert not await a.redis.keys("pm:lease:*")


async def test_a_follower_takes_over_when_the_owner_leaves(nodes: Callable[[str], Node]) -> None:
    """Owner shut down: a follower takes the lease, its subscriber sees an error, then data."""
    a, b = nodes("a"), nodes("b")
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    await b.streams.subscribe("cb", ticker())
    a.push({"symbol": "BTC/USDT", "last": 1.0})
    await eventually(lambda: b.seen(1.0))
    await a.hub.aclose()
    await eventually(lambda: b.watching() == 1, timeout=5)
    assert b.owner()
    b.push({"symbol": "BTC/USDT", "last": 2.0})
    await eventually(lambda: b.seen(2.0))
    assert [m for m, _ in b.publisher.errors] == [GENERIC_ERROR]
    assert b.ownership.counters.acquired == {"follower": 1}  # a takeover, for the metrics
    assert a.ownership.counters.acquired == {"none": 1}
    restarted = [u.restarted for u, _ in b.publisher.updates if u.data["last"] == 2.0]
    assert restarted == [True]  # a snapshot after the restart


async def test_a_stale_holder_cannot_publish_and_lower_fences_are_dropped(
    nodes: Callable[[str], Node],
) -> None:
    from app.domain.cluster.model import ClusterMessage, fence_of, stream_id

    a, b = nodes("a"), nodes("b")
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    await b.streams.subscribe("cb", ticker())
    sid = stream_id(a.hub.key(ticker()))
    holder = (await a.redis.get(f"pm:lease:{sid}")).decode()
    refused: list[bool] = []
    # A holder that is not the lease's value (a paused ex-owner) is refused by Redis.
    stale = f"a:{fence_of(holder) - 1}"
    a.ownership.publish(
        sid, stale, ClusterMessage("data", 1, {"last": 666.0}), lambda: refused.append(True)
    )
    await eventually(lambda: refused == [True])
    # A report with a lower fence than seen is dropped by the follower (defence in depth).
    runner = b.hub._clustered[next(iter(b.hub._streams.values()))]
    runner._deliver(ClusterMessage("data", fence_of(holder) + 1, {"last": 5.0}))
    runner._deliver(ClusterMessage("data", fence_of(holder), {"last": 666.0}))
    assert runner.dropped_stale == 1 and b.seen(5.0) and not b.seen(666.0)
    assert b.ownership.counters.dropped == {"stale_fence": 1}
    assert a.ownership.counters.refused == {"fence": 1}


async def test_credentials_key_streams_alike_across_nodes_and_never_collide(
    nodes: Callable[[str], Node],
) -> None:
    a, b = nodes("a"), nodes("b")
    alice = {"credentials": Credentials(api_key="alice-key", secret="alice-secret")}
    bob = {"credentials": Credentials(api_key="bob-key", secret="bob-secret")}
    balance = lambda **c: StreamRequest(ExchangeConfig("fake", ccxt_type="pro", **c), "balance", "")  # noqa: E731
    assert a.hub.key(balance(**alice)) == b.hub.key(balance(**alice))
    assert a.hub.key(balance(**alice)) != b.hub.key(balance(**bob))
    await a.streams.subscribe("ca", balance(**alice))
    await b.streams.subscribe("cb", balance(**bob))
    # Two credentials: two upstreams (one per node), each its own owner.
    await eventually(lambda: a.watching("balance", "") == 1 and b.watching("balance", "") == 1)
    assert a.owner() and b.owner()
    a.push({"total": {"USDT": 1}}, "balance", "")
    await eventually(lambda: any(u.data == {"total": {"USDT": 1}} for u, _ in a.publisher.updates))
    assert b.publisher.updates == []


async def test_redis_away_every_node_serves_alone_then_one_owner_again(
    own_redis_server: RedisServer,
) -> None:
    a, b = Node("a", own_redis_server.url), Node("b", own_redis_server.url)
    try:
        await a.streams.subscribe("ca", ticker())
        await eventually(lambda: a.watching() == 1)
        await b.streams.subscribe("cb", ticker())
        a.push({"symbol": "BTC/USDT", "last": 1.0})
        await eventually(lambda: b.seen(1.0))
        own_redis_server.kill()
        # Redis away: the follower starts its own upstream; both serve their own clients.
        await eventually(lambda: a.watching() == 1 and b.watching() == 1, timeout=5)
        assert a.owner() and b.owner()
        await eventually(lambda: a.ownership.counters.lost["unreachable"] == 1)
        assert a.ownership.counters.lost["taken"] == 0
        a.push({"symbol": "BTC/USDT", "last": 2.0})
        b.push({"symbol": "BTC/USDT", "last": 3.0})
        await eventually(lambda: a.seen(2.0) and b.seen(3.0))
        own_redis_server.start()
        # Redis back: one owner again, the other node's upstream stops and it follows.
        await eventually(lambda: a.watching() + b.watching() == 1, timeout=10)
        assert [a.owner(), b.owner()].count(True) == 1
        owner = a if a.watching() else b
        assert owner.ownership.counters.acquired["alone"] == 1  # metrics: back from alone

        def ticks_reach_both() -> bool:  # the exchange keeps ticking while the follower joins
            owner.push({"symbol": "BTC/USDT", "last": 4.0})
            return a.seen(4.0) and b.seen(4.0)

        await eventually(ticks_reach_both, interval=0.05)
    finally:
        await a.close()
        await b.close()


async def test_a_paused_owner_is_replaced_cannot_publish_and_steps_down(
    nodes: Callable[[str], Node],
) -> None:
    """An owner whose rounds stall (GC pause, SIGSTOP) past the TTL: a follower takes over;
    the stalled owner's loop still produces, but Redis refuses its publishes; once its
    rounds resume it finds the lease gone and stops its loop."""
    a, b = nodes("a"), nodes("b")
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    await b.streams.subscribe("cb", ticker())
    paused = asyncio.Event()
    real_tick = a.ownership.tick

    async def stalled_tick(*args: Any) -> Any:
        await paused.wait()
        return await real_tick(*args)

    a.ownership.tick = stalled_tick  # type: ignore[method-assign]
    await eventually(lambda: b.watching() == 1, timeout=5)  # b owns after the TTL
    assert a.watching() == 1  # the stalled ex-owner's loop still runs...

    def b_delivers() -> bool:  # positive control: b's own updates reach b's subscriber
        b.push({"symbol": "BTC/USDT", "last": 2.0})
        return b.seen(2.0)

    await eventually(b_delivers, interval=0.05)
    refused = a.ownership.counters.refused
    refused_before = refused["fence"]
    a.push({"symbol": "BTC/USDT", "last": 666.0})
    await eventually(lambda: a.seen(666.0))  # ...and feeds its own subscriber...
    await eventually(lambda: refused["fence"] > refused_before)  # ...but Redis refused it
    b.push({"symbol": "BTC/USDT", "last": 3.0})
    await eventually(lambda: b.seen(3.0))
    assert not b.seen(666.0)  # b's clients never see the ex-owner's update
    paused.set()
    await eventually(lambda: a.watching() == 0, timeout=5)  # it stepped down
    assert not a.owner() and b.owner()
    assert a.ownership.counters.lost == {"taken": 1}  # metrics: a lost it, b took it over
    assert b.ownership.counters.acquired == {"follower": 1}

    def a_follows() -> bool:
        b.push({"symbol": "BTC/USDT", "last": 4.0})
        return a.seen(4.0)

    await eventually(a_follows, interval=0.05)


async def test_a_permanent_error_at_the_owner_ends_the_stream_on_every_node(
    nodes: Callable[[str], Node],
) -> None:
    from app.domain.errors import BadSymbol

    a, b = nodes("a"), nodes("b")
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    await b.streams.subscribe("cb", ticker())
    a.push({"symbol": "BTC/USDT", "last": 1.0})
    await eventually(lambda: b.seen(1.0))  # b follows
    [gateway] = [g for g in a.backend.created if g.pending_watchers("ticker", "BTC/USDT")]
    gateway.fail_next("watch_ticker", BadSymbol("binance does not have market symbol BTC/USDT"))
    a.push({"symbol": "BTC/USDT", "last": 2.0})  # re-arms the watch: the next one fails
    text = "binance does not have market symbol BTC/USDT"
    await eventually(lambda: [m for m, _ in b.publisher.errors] == [text])
    await eventually(lambda: a.hub.snapshot() == [] and b.hub.snapshot() == [])
    assert [m for m, _ in a.publisher.errors] == [text]
    assert a.streams.subscription_count("ca") == 0 and b.streams.subscription_count("cb") == 0
    assert b.watching() == 0  # nobody took the ended stream over


async def test_a_node_that_starts_following_greets_its_first_subscriber_with_the_latest(
    nodes: Callable[[str], Node],
) -> None:
    a, b = nodes("a"), nodes("b")
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    a.push({"symbol": "BTC/USDT", "last": 1.0})
    await eventually(lambda: a.seen(1.0))
    delivered_at = a.publisher.updates[-1][0].timestamp
    subscription = await b.streams.subscribe("cb", ticker())  # b's first subscriber: b follows
    await b.streams.greet("cb", subscription.subscription_id)
    [(update, to)] = b.publisher.updates
    assert update.cached and update.data["last"] == 1.0 and update.timestamp == delivered_at
    assert [s.subscription_id for s in to] == [subscription.subscription_id]


async def test_a_node_that_starts_following_a_recovering_stream_shows_its_status(
    nodes: Callable[[str], Node],
) -> None:
    from app.domain.errors import ExchangeUnreachable

    a, b = nodes("a"), nodes("b")
    await a.streams.subscribe("ca", ticker())
    await eventually(lambda: a.watching() == 1)
    a.push({"symbol": "BTC/USDT", "last": 1.0})
    await eventually(lambda: a.seen(1.0))
    [gateway] = [g for g in a.backend.created if g.pending_watchers("ticker", "BTC/USDT")]
    gateway.fail_next("watch_ticker", ExchangeUnreachable("binance is unreachable"))
    a.push({"symbol": "BTC/USDT", "last": 2.0})  # re-arms the watch: the next one fails
    await eventually(
        lambda: ("recovering", "binance is unreachable") in [s[:2] for s in a.publisher.statuses]
    )
    subscription = await b.streams.subscribe("cb", ticker())
    await b.streams.greet("cb", subscription.subscription_id)
    assert [s[:2] for s in b.publisher.statuses] == [("recovering", "binance is unreachable")]
    assert [u.data["last"] for u, _ in b.publisher.updates] == [2.0]  # cached: the last update
    assert b.publisher.errors == []  # an error event only reaches those who were there

    def live_again() -> bool:
        a.push({"symbol": "BTC/USDT", "last": 3.0})
        return b.seen(3.0)

    await eventually(live_again, interval=0.05)
    assert b.publisher.statuses[-1][:2] == ("live", "Receiving updates")
