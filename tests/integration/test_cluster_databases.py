"""Two clusters on two databases of one redis-server never see each other's streams
(ADR 0172): keys live in each database, and the stream and node channels, which Redis
pub/sub shares across databases, carry the database number.

Both clusters use the same node names and key secret, so without the database in the
channel names they would share every channel name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from app.testing import eventually
from tests.integration.test_cluster_streams import Node, ticker


@pytest.fixture
async def clusters(redis_url: str) -> AsyncIterator[tuple[tuple[Node, Node], tuple[Node, Node]]]:
    assert redis_url.endswith("/0")
    other = redis_url.removesuffix("/0") + "/1"
    made = [Node("a", redis_url), Node("b", redis_url), Node("a", other), Node("b", other)]
    try:
        yield (made[0], made[1]), (made[2], made[3])
    finally:
        for node in made:
            await node.close()


def runs_upstream(node: Node) -> Callable[[], bool]:
    return lambda: node.watching() == 1


async def test_two_clusters_on_two_databases_do_not_hear_each_other(
    clusters: tuple[tuple[Node, Node], tuple[Node, Node]],
) -> None:
    (xa, xb), (ya, yb) = clusters
    for owner, follower in ((xa, xb), (ya, yb)):
        await owner.streams.subscribe("c-owner", ticker())
        await eventually(runs_upstream(owner))
        await follower.streams.subscribe("c-follower", ticker())
    # One upstream per cluster: each database has its own lease, each follower its owner.
    assert xa.owner() and ya.owner() and not xb.owner() and not yb.owner()
    assert xb.watching() == 0 and yb.watching() == 0
    assert xb.hub.snapshot()[0].owner_node == "a" and yb.hub.snapshot()[0].owner_node == "a"

    xa.push({"symbol": "BTC/USDT", "last": 1.0})
    ya.push({"symbol": "BTC/USDT", "last": 2.0})
    await eventually(lambda: xb.seen(1.0) and yb.seen(2.0))  # each follower hears its owner
    xa.push({"symbol": "BTC/USDT", "last": 3.0})
    await eventually(lambda: xb.seen(3.0))
    ya.push({"symbol": "BTC/USDT", "last": 4.0})
    await eventually(lambda: yb.seen(4.0))
    assert [u.data["last"] for u, _ in xb.publisher.updates] == [1.0, 3.0]
    assert [u.data["last"] for u, _ in yb.publisher.updates] == [2.0, 4.0]
    assert xb.ownership.counters.dropped == {} and yb.ownership.counters.dropped == {}
