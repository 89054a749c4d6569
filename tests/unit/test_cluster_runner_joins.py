"""The owner side of ADR 0171 without Redis: what an owner publishes with nobody following,
on a join notice, and on a notice that arrives in the middle of the round that makes it the
owner. ``ScriptedOwnership`` is the in-process adapter made "shared" that records what the
runner hands it and delivers a join when told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.adapters.cluster import InProcessStreamOwnership
from app.domain.cluster.model import ClusterMessage, Lease
from app.domain.config import ExchangeConfig
from app.domain.streams import StreamHub, StreamRequest, StreamService, SubscriptionRegistry
from app.settings import CacheSettings, StreamSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend
from tests.unit.test_stream_hub import RecordingPublisher

TICKER = StreamRequest(ExchangeConfig("fake", ccxt_type="pro"), "ticker", "BTC/USDT")


class ScriptedOwnership(InProcessStreamOwnership):
    """One node that always owns (nobody else's heartbeat: ``elsewhere`` 0), as a cluster."""

    tick_seconds = 30.0  # no second round within a test: only notices change anything

    def __init__(self) -> None:
        super().__init__(node_id="a")
        self.published: list[ClusterMessage] = []
        self.watchers: dict[str, Callable[[], None]] = {}
        self.join_during_tick = False

    @property
    def shared(self) -> bool:
        return True

    async def watch_joins(self, stream_id: str, joined: Callable[[], None]) -> bool:
        self.watchers[stream_id] = joined
        return True

    async def tick(self, stream_id: str, local_count: int, holder: str, release: bool) -> Lease:
        lease = await super().tick(stream_id, local_count, holder, release)
        if self.join_during_tick:  # a follower saw the lease before this node's round ended
            self.join_during_tick = False
            self.watchers[stream_id]()
        return lease

    def publish(
        self, stream_id: str, holder: str, message: ClusterMessage, refused: Callable[[], None]
    ) -> None:
        self.published.append(message)

    def kinds(self) -> list[tuple[str, Any]]:
        return [(m.kind, m.data and m.data["last"]) for m in self.published]


class Node:
    def __init__(self, ownership: ScriptedOwnership) -> None:
        self.backend = FakeBackend()
        self.ownership = ownership
        self.cache = InMemoryInstanceCache(self.backend.create, CacheSettings())
        self.publisher = RecordingPublisher()
        registry = SubscriptionRegistry()
        self.hub = StreamHub(
            self.cache,
            self.publisher,
            StreamSettings(),
            on_subscribers_ended=registry.forget_ended,
            ownership=ownership,
        )
        self.streams = StreamService(self.hub, registry, StreamSettings())

    def watching(self) -> bool:
        return sum(g.pending_watchers("ticker", "BTC/USDT") for g in self.backend.created) == 1

    async def push_seen(self, last: float) -> None:
        data = {"symbol": "BTC/USDT", "last": last}
        await eventually(
            lambda: sum(g.push("ticker", "BTC/USDT", data) for g in self.backend.created)
        )
        await eventually(lambda: any(u.data["last"] == last for u, _ in self.publisher.updates))


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    made = Node(ScriptedOwnership())
    yield made
    await made.hub.aclose()
    await made.cache.aclose()


async def test_nothing_is_published_until_a_join_then_the_latest_sync_and_every_update(
    node: Node,
) -> None:
    await node.streams.subscribe("c", TICKER)
    await eventually(node.watching)
    await node.push_seen(1.0)
    await node.push_seen(2.0)
    assert node.ownership.published == [] and node.ownership.counters.skipped == 2
    delivered_at = node.publisher.updates[-1][0].timestamp
    node.ownership.watchers[next(iter(node.ownership.watchers))]()  # a follower joins
    assert node.ownership.kinds() == [("data", 2.0), ("sync", None)]
    assert node.ownership.published[0].timestamp == delivered_at  # when the owner had it
    await node.push_seen(3.0)
    assert node.ownership.kinds()[-1] == ("data", 3.0)
    node.ownership.watchers[next(iter(node.ownership.watchers))]()  # another one joins
    assert node.ownership.kinds()[-1] == ("sync", None)  # already publishing: only sync
    assert node.ownership.kinds().count(("data", 3.0)) == 1


async def test_a_join_during_the_round_that_makes_the_node_owner_is_answered(
    node: Node,
) -> None:
    node.ownership.join_during_tick = True
    await node.streams.subscribe("c", TICKER)
    await eventually(node.watching)
    await eventually(lambda: node.ownership.kinds() == [("sync", None)])
    await node.push_seen(1.0)
    assert node.ownership.kinds() == [("sync", None), ("data", 1.0)]
    assert node.ownership.counters.skipped == 0
