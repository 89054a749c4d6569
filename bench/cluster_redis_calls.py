"""Redis commands per second of a cluster's stream ownership (ADR 0171), on a redis-server of
its own: one stream whose exchange pushes at a fixed rate, owned by node A with one local
subscriber, (1) with no other node following and (2) with node B following it.

Nodes are the application's stream side in this process (``StreamHub`` + a fake exchange +
``RedisStreamOwnership`` with its own Redis client), as ``tests/integration`` wires them;
the figures are ``INFO commandstats`` deltas of that redis-server over each window (Lua
scripts' inner calls counted as Redis counts them, ``evalsha`` once per script call).

    .venv/bin/python -m bench.cluster_redis_calls                 # 10 Hz and 100 Hz, 10 s each
    .venv/bin/python -m bench.cluster_redis_calls --rates 10 --seconds 5

Bounded: at most 1,000 updates per second, 60 s per window, every wait has a limit. Not run
in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from app.adapters.cache.keys import CacheKeyer
from app.adapters.cache.memory import InMemoryInstanceCache
from app.adapters.cluster.redis_ownership import RedisStreamOwnership
from app.domain.config import ExchangeConfig
from app.domain.streams import StreamHub, StreamRequest, StreamService, SubscriptionRegistry
from app.settings import CacheSettings, StreamSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend

MAX_RATE = 1000
MAX_SECONDS = 60.0


class CountingPublisher:
    """A StreamPublisher that only counts what its subscribers got."""

    def __init__(self) -> None:
        self.updates = 0

    def publish(self, update: Any, subscribers: Any) -> None:
        self.updates += 1

    def publish_error(self, message: str, subscribers: Any) -> None:
        pass

    def publish_status(self, state: str, reason: str, subscribers: Any) -> None:
        pass

    def discard(self, subscriber: Any) -> None:
        pass

    def forget_connection(self, connection_id: str) -> None:
        pass


class Node:
    def __init__(self, name: str, url: str) -> None:
        self.backend = FakeBackend()
        self.redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self.ownership = RedisStreamOwnership(self.redis, node_id=name)  # default TTL 3 s
        self.cache = InMemoryInstanceCache(
            self.backend.create, CacheSettings(), keyer=CacheKeyer(b"bench-secret")
        )
        self.publisher = CountingPublisher()
        registry = SubscriptionRegistry()
        self.hub = StreamHub(
            self.cache,
            self.publisher,  # type: ignore[arg-type]
            StreamSettings(),
            on_subscribers_ended=registry.forget_ended,
            ownership=self.ownership,
        )
        self.streams = StreamService(self.hub, registry, StreamSettings())

    def push(self, n: int) -> int:
        data = {"symbol": "BTC/USDT", "last": float(n)}
        return sum(g.push("ticker", "BTC/USDT", data) for g in self.backend.created)

    def watching(self) -> int:
        return sum(g.pending_watchers("ticker", "BTC/USDT") for g in self.backend.created)

    async def close(self) -> None:
        await self.hub.aclose()
        await self.ownership.aclose()
        await self.cache.aclose()
        await self.redis.aclose()


def request() -> StreamRequest:
    return StreamRequest(ExchangeConfig("fake", ccxt_type="pro"), "ticker", "BTC/USDT")


async def commands(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def window(owner: Node, rate: int, seconds: float) -> dict[str, Any]:
    """Push at ``rate`` Hz for ``seconds``; Redis calls per second over the window."""
    before = await commands(owner.redis)
    start = time.monotonic()
    pushed = 0
    for n in range(int(rate * seconds)):
        pushed += owner.push(n) > 0
        await asyncio.sleep(max(0.0, start + (n + 1) / rate - time.monotonic()))
    elapsed = time.monotonic() - start
    after = await commands(owner.redis)
    after["info"] = after.get("info", 0) - 1  # our own INFO
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    return {
        "pushed": pushed,
        "per_s": sum(delta.values()) / elapsed,
        "by_command": {k: round(v / elapsed, 1) for k, v in sorted(delta.items())},
    }


async def run(url: str, rates: list[int], seconds: float) -> list[tuple[str, int, dict[str, Any]]]:
    rows = []
    a, b = Node("bench-a", url), Node("bench-b", url)
    try:
        await a.streams.subscribe("ca", request())
        await eventually(lambda: a.watching() == 1, timeout=10)
        for rate in rates:  # one window after the other: not a comprehension of awaits
            alone = await window(a, rate, seconds)
            alone["follower_got"] = 0
            rows.append(("A owns, nobody follows", rate, alone))
        await b.streams.subscribe("cb", request())

        def b_follows() -> bool:
            a.push(-1)
            return b.publisher.updates > 0

        await eventually(b_follows, timeout=10)
        for rate in rates:
            row = await window(a, rate, seconds)
            row["follower_got"] = b.publisher.updates
            rows.append(("A owns, B follows", rate, row))
    finally:
        await a.close()
        await b.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rates = [max(1, min(MAX_RATE, r)) for r in args.rates]
    seconds = max(1.0, min(MAX_SECONDS, args.seconds))
    from tests.support.redis_server import RedisServer

    server = RedisServer().start()
    try:
        rows = asyncio.run(run(server.url, rates, seconds))
    finally:
        server.close()
    print("| setup | updates/s | Redis commands/s | by command (/s) |")
    print("|---|---|---|---|")
    for setup, rate, row in rows:
        by = ", ".join(f"{k} {v}" for k, v in row["by_command"].items())
        print(f"| {setup} | {rate} | {row['per_s']:.1f} | {by} |")


if __name__ == "__main__":
    main()
