"""The StreamOwnership port (ADR 0140): one suite for every adapter, then what only a shared
store can show (several nodes, heartbeats, channels, expiry, a Redis restart)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.adapters.cluster import InProcessStreamOwnership
from app.adapters.cluster.redis_ownership import RedisStreamOwnership
from app.domain.cluster.model import ClusterMessage, Lease
from app.ports.stream_ownership import StreamOwnership
from app.testing import eventually
from tests.support.redis_server import RedisServer

SID = "fake:spot:pro:live:public|ticker|BTC/USDT|"
TTL = 2.0  # no lease lapses by accident on a loaded machine
SHORT_TTL = 0.6  # for the tests that wait for one to lapse


class Nodes:
    """Redis adapters, one client each, closed at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.made: list[tuple[RedisStreamOwnership, Redis]] = []

    def __call__(self, name: str, ttl: float = TTL) -> RedisStreamOwnership:
        redis = Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=1)
        node = RedisStreamOwnership(redis, lease_ttl_seconds=ttl, node_id=name)
        self.made.append((node, redis))
        return node

    async def aclose(self) -> None:
        for node, redis in self.made:
            await node.aclose()
            await redis.aclose()


@pytest.fixture
async def redis_nodes(redis_url: str) -> AsyncIterator[Nodes]:
    nodes = Nodes(redis_url)
    yield nodes
    await nodes.aclose()


@pytest.fixture(params=["in_process", "redis"])
def ownership(request: pytest.FixtureRequest) -> StreamOwnership:
    if request.param == "in_process":
        return InProcessStreamOwnership(node_id="solo")
    nodes: Nodes = request.getfixturevalue("redis_nodes")
    return nodes("solo")


def refusals() -> tuple[list[bool], Callable[[], None]]:
    seen: list[bool] = []
    return seen, lambda: seen.append(True)


# -- the contract every adapter keeps ---------------------------------------------------------


async def test_the_first_round_takes_the_lease_and_renewing_keeps_it(
    ownership: StreamOwnership,
) -> None:
    lease = await ownership.tick(SID, 1, "", False)
    assert lease.role == "owner" and lease.fence > 0
    assert lease.holder == f"{ownership.node_id}:{lease.fence}"
    again = await ownership.tick(SID, 1, lease.holder, False)
    assert again == Lease("owner", lease.holder, 0)


async def test_a_holder_that_is_not_the_lease_follows(ownership: StreamOwnership) -> None:
    lease = await ownership.tick(SID, 1, "", False)
    other = await ownership.tick(SID, 1, "", False)  # a caller without the lease's value
    assert other.role == "follower" and other.holder == lease.holder


async def test_release_and_leave_give_the_lease_up_and_the_next_fence_is_higher(
    ownership: StreamOwnership,
) -> None:
    first = await ownership.tick(SID, 1, "", False)
    assert (await ownership.tick(SID, 0, first.holder, True)).role == "released"
    second = await ownership.tick(SID, 1, "", False)
    assert second.role == "owner" and second.fence > first.fence
    await ownership.leave(SID, second.holder)
    third = await ownership.tick(SID, 1, "", False)
    assert third.role == "owner" and third.fence > second.fence


async def test_a_publish_by_a_holder_without_the_lease_is_refused(
    ownership: StreamOwnership,
) -> None:
    lease = await ownership.tick(SID, 1, "", False)
    current, current_refused = refusals()
    ownership.publish(SID, lease.holder, ClusterMessage("data", lease.fence, {}), current_refused)
    stale, stale_refused = refusals()
    ownership.publish(
        SID, f"{ownership.node_id}:{lease.fence - 1}", ClusterMessage("data", 1), stale_refused
    )
    await eventually(lambda: stale == [True])
    assert current == []


# -- several nodes on one Redis ---------------------------------------------------------------


async def test_one_owner_and_the_others_count_as_subscribers_elsewhere(
    redis_nodes: Nodes,
) -> None:
    a, b, c = redis_nodes("a"), redis_nodes("b"), redis_nodes("c")
    owner = await a.tick(SID, 2, "", False)
    assert (await b.tick(SID, 3, "", False)).role == "follower"
    assert (await c.tick(SID, 4, "", False)).role == "follower"
    renewed = await a.tick(SID, 0, owner.holder, True)  # no local subscriber: may it release?
    assert renewed == Lease("owner", owner.holder, 7)  # no: 3 + 4 elsewhere
    await b.leave(SID, "")
    await c.tick(SID, 0, "", False)  # a count of 0 drops c's heartbeat at once
    assert (await a.tick(SID, 0, owner.holder, True)).role == "released"


async def test_a_silent_owner_loses_the_lease_and_a_dead_nodes_count_expires(
    redis_nodes: Nodes,
) -> None:
    a, b = redis_nodes("a", ttl=SHORT_TTL), redis_nodes("b", ttl=SHORT_TTL)
    first = await a.tick(SID, 5, "", False)
    assert (await b.tick(SID, 1, "", False)).elsewhere == 5

    async def b_takes_over() -> Lease | None:
        lease = await b.tick(SID, 1, "", False)
        return lease if lease.role == "owner" else None

    taken = await eventually(b_takes_over, timeout=SHORT_TTL * 4, interval=0.05)
    assert taken.fence > first.fence and taken.elsewhere == 0  # a's heartbeat expired too
    assert (await a.tick(SID, 5, first.holder, False)).role == "follower"  # a came back


async def test_followers_receive_the_owners_reports_in_order_until_they_unfollow(
    redis_nodes: Nodes,
) -> None:
    a, b, c = (redis_nodes(n, ttl=10) for n in "abc")  # no renewals needed here
    lease = await a.tick(SID, 1, "", False)
    got: list[ClusterMessage] = []
    witness: list[ClusterMessage] = []  # c follows throughout: what was sent, and when
    await b.follow(SID, got.append, lambda: None)
    await c.follow(SID, witness.append, lambda: None)
    sent = [ClusterMessage("data", lease.fence, {"last": n, "nested": [n, None]}) for n in range(5)]
    sent.append(
        ClusterMessage("error", lease.fence, message="Stream failed; retrying", error_type="X")
    )
    for message in sent:
        a.publish(SID, lease.holder, message, lambda: None)
    await eventually(lambda: len(got) == len(sent))
    assert got == sent
    await b.unfollow(SID)
    a.publish(SID, lease.holder, ClusterMessage("data", lease.fence, {"last": 99}), lambda: None)
    await eventually(lambda: len(witness) == len(sent) + 1)
    again: list[ClusterMessage] = []  # positive control: following again receives again
    await b.follow(SID, again.append, lambda: None)
    a.publish(SID, lease.holder, ClusterMessage("data", lease.fence, {"last": 100}), lambda: None)
    await eventually(lambda: len(again) == 1)
    assert again[0].data == {"last": 100} and got == sent  # 99 reached nobody unfollowed


async def test_fences_keep_growing_across_a_redis_restart(own_redis_server: RedisServer) -> None:
    nodes = Nodes(own_redis_server.url)
    try:
        a = nodes("a")
        before = await a.tick(SID, 1, "", False)
        own_redis_server.restart()  # empty: no persistence

        async def retaken() -> Any:
            try:
                return await a.tick(SID, 1, before.holder, False)
            except Exception:  # noqa: BLE001 - reconnecting
                return None

        after = await eventually(retaken, timeout=5, interval=0.1)
        assert after.role == "owner" and after.fence > before.fence
    finally:
        await nodes.aclose()


async def test_a_publish_after_redis_lost_its_scripts_still_goes_out(redis_nodes: Nodes) -> None:
    """Publishes call the script by SHA (no SCRIPT EXISTS per batch): a NOSCRIPT answer
    (Redis restarted or flushed its script cache) loads it and sends the batch again."""
    a, b = redis_nodes("a", ttl=10), redis_nodes("b", ttl=10)
    lease = await a.tick(SID, 1, "", False)
    got: list[ClusterMessage] = []
    await b.follow(SID, got.append, lambda: None)
    a.publish(SID, lease.holder, ClusterMessage("data", lease.fence, {"last": 1}), lambda: None)
    await eventually(lambda: len(got) == 1)  # positive control
    await a._redis.script_flush()
    refused, on_refused = refusals()
    a.publish(SID, lease.holder, ClusterMessage("data", lease.fence, {"last": 2}), on_refused)
    await eventually(lambda: len(got) == 2)
    assert got[1].data == {"last": 2} and refused == []
    assert a.counters.refused == {}


async def test_a_join_reaches_the_lease_holders_node_only(redis_nodes: Nodes) -> None:
    a, b, c = (redis_nodes(n, ttl=10) for n in "abc")
    lease = await a.tick(SID, 1, "", False)
    joined_a: list[str] = []
    joined_c: list[str] = []
    assert await a.watch_joins(SID, lambda: joined_a.append("b"))
    assert await c.watch_joins(SID, lambda: joined_c.append("b"))
    assert await a.watch_joins("other", lambda: joined_a.append("other"))
    await b.join(SID, lease.holder)
    await eventually(lambda: joined_a == ["b"])
    assert joined_c == []  # c does not hold the lease: its node hears nothing
    a.unwatch_joins(SID)
    await b.join("other", lease.holder)  # positive control for the unwatch below
    await eventually(lambda: joined_a == ["b", "other"])
    await b.join(SID, lease.holder)
    await b.join("other", lease.holder)
    await eventually(lambda: joined_a == ["b", "other", "other"])
    assert joined_a.count("b") == 1  # unwatched: no more notices for SID
    await b.join(SID, "")  # no holder: nobody to tell, nothing raised
