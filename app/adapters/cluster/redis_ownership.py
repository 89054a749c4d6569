"""RedisStreamOwnership: leases, heartbeats and per-stream channels on Redis (ADR 0140).

One ``redis.asyncio.Redis`` (the container's) serves the rounds and the publishes; one
pub/sub connection per node carries the channels of the streams this node follows. Reports
are msgpack (msgspec) ``ClusterMessage`` values.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from app.adapters.cluster import scripts
from app.adapters.cluster.in_process import new_node_id
from app.domain.cluster.model import (
    ClusterCounters,
    ClusterMessage,
    ClusterUnavailable,
    Lease,
    node_of,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = structlog.get_logger(__name__)

LEASE_TTL_SECONDS = 3.0
"""Default lease TTL: an owner killed without a word is replaced within TTL + one round."""
LEAVE_TIMEOUT_SECONDS = 2.0
PUBLISH_BATCH = 256
"""Reports sent per pipeline round trip at most."""
PUBLISH_QUEUE_MAX = 10_000
"""Reports queued at most while Redis is slow; beyond it the oldest are dropped."""
RECONNECT_SECONDS = 0.5
_KEEP = {"data": "data", "error": "state", "stale": "state"}
LATEST_TTL_MS = 30_000
"""How long the owner's last update is kept for nodes that start following (refreshed with
every update; a stream quiet longer than this gives a new follower nothing cached)."""


def _encode_fallback(value: Any) -> Any:
    return str(value)  # a type msgpack lacks (Decimal...): its text, as JSON would show it


class RedisStreamOwnership:
    """The cluster adapter of ``StreamOwnership``.

    Args:
        redis: the process's client (``app.adapters.redis.connect``).
        lease_ttl_seconds: lease TTL; rounds run every third of it, heartbeats last as long.
        node_id: this node's name (default: host, pid and a random part).
    """

    def __init__(
        self, redis: Redis, *, lease_ttl_seconds: float = LEASE_TTL_SECONDS, node_id: str = ""
    ) -> None:
        from redis.exceptions import NoScriptError, RedisError

        self._redis = redis
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._no_script = NoScriptError
        self._node_id = node_id or new_node_id()
        self._lease_ms = max(1, int(lease_ttl_seconds * 1000))
        self._tick_seconds = lease_ttl_seconds / 3
        self._tick = redis.register_script(scripts.TICK)
        self._publish = redis.register_script(scripts.PUBLISH)
        self._leave = redis.register_script(scripts.LEAVE)
        self._encoder = msgspec.msgpack.Encoder(enc_hook=_encode_fallback)
        self._decoder = msgspec.msgpack.Decoder(ClusterMessage)
        self._followers: dict[
            bytes, tuple[Callable[[ClusterMessage], None], Callable[[], None]]
        ] = {}
        self._join_watchers: dict[str, Callable[[], None]] = {}
        self._db = scripts.database_of(redis)
        self._node_channel = scripts.node_channel(self._db, self._node_id).encode()
        self._node_subscribed = False
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reader_ok = True
        self._outbox: deque[tuple[str, str, bytes, str, Callable[[], None]]] = deque()
        self._outbox_ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._sending = False
        self._counters = ClusterCounters()

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def counters(self) -> ClusterCounters:
        return self._counters

    @property
    def shared(self) -> bool:
        return True

    @property
    def reachable(self) -> bool:
        return self._reader_ok

    @property
    def tick_seconds(self) -> float:
        return self._tick_seconds

    async def tick(self, stream_id: str, local_count: int, holder: str, release: bool) -> Lease:
        keys = [
            scripts.lease_key(stream_id),
            scripts.fence_key(stream_id),
            scripts.subs_key(stream_id),
        ]
        args: list[str | int] = [
            self._node_id,
            holder,
            local_count,
            self._lease_ms,
            self._lease_ms,
            "1" if release else "0",
        ]
        try:
            role, current, elsewhere = await self._tick(keys=keys, args=args)
        except self._errors as exc:
            raise ClusterUnavailable(type(exc).__name__) from None
        return Lease(_text(role), _text(current), int(elsewhere))  # type: ignore[arg-type]

    async def leave(self, stream_id: str, holder: str) -> None:
        keys = [scripts.lease_key(stream_id), scripts.subs_key(stream_id)]
        with contextlib.suppress(*self._errors):
            async with asyncio.timeout(LEAVE_TIMEOUT_SECONDS):
                if holder and self._sender is not None and not self._sender.done():
                    await self._sent()  # the last reports (an ``end``) go out under the lease
                await self._leave(keys=keys, args=[self._node_id, holder])

    def publish(
        self, stream_id: str, holder: str, message: ClusterMessage, refused: Callable[[], None]
    ) -> None:
        if len(self._outbox) >= PUBLISH_QUEUE_MAX:
            self._outbox.popleft()
            self._counters.refused["queue_full"] += 1
        keep = _KEEP.get(message.kind, "")
        self._outbox.append((stream_id, holder, self._encoder.encode(message), keep, refused))
        self._outbox_ready.set()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(
                self._send_loop(), name="cluster-publish"
            )

    async def _sent(self) -> None:
        """Wait until every report queued so far has been sent (or dropped)."""
        while self._outbox or self._sending:
            self._outbox_ready.set()
            await asyncio.sleep(0.005)

    async def _send_loop(self) -> None:
        while True:
            self._sending = False
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            self._sending = True
            while self._outbox:
                batch = [
                    self._outbox.popleft() for _ in range(min(PUBLISH_BATCH, len(self._outbox)))
                ]
                try:
                    results = await self._send(batch)
                    if any(isinstance(r, self._no_script) for r in results):
                        # Redis lost its script cache (a restart): load it, send once more.
                        await self._redis.script_load(scripts.PUBLISH)
                        results = await self._send(batch)
                except self._errors as exc:
                    self._counters.refused["unreachable"] += len(batch)
                    log.warning("cluster_publish_failed", error_type=type(exc).__name__)
                    continue
                for (*_item, refused), result in zip(batch, results, strict=True):
                    if result == -1 or isinstance(result, BaseException):
                        reason = "fence" if result == -1 else "error"
                        self._counters.refused[reason] += 1
                        refused()

    async def _send(
        self, batch: list[tuple[str, str, bytes, str, Callable[[], None]]]
    ) -> list[Any]:
        """One pipeline of PUBLISH script calls by SHA (EVALSHA). Not redis-py's pipelined
        ``Script``: that asks SCRIPT EXISTS before every pipeline, a command and a round
        trip per batch; a NOSCRIPT answer comes back in the results instead."""
        sha = self._publish.sha
        async with self._redis.pipeline(transaction=False) as pipe:
            for stream_id, holder, payload, keep, _refused in batch:
                pipe.evalsha(
                    sha,
                    3,
                    scripts.lease_key(stream_id),
                    scripts.latest_key(stream_id),
                    scripts.state_key(stream_id),
                    holder,
                    scripts.channel(self._db, stream_id),
                    payload,
                    keep,
                    LATEST_TTL_MS,
                )
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    async def last_reports(self, stream_id: str) -> list[ClusterMessage]:
        keys = [scripts.latest_key(stream_id), scripts.state_key(stream_id)]
        try:
            raws = await self._redis.mget(keys)
        except self._errors as exc:
            raise ClusterUnavailable(type(exc).__name__) from None
        reports = []
        for raw in raws:
            if isinstance(raw, bytes):
                with contextlib.suppress(msgspec.DecodeError):
                    reports.append(self._decoder.decode(raw))
        return reports

    async def follow(
        self,
        stream_id: str,
        deliver: Callable[[ClusterMessage], None],
        lost: Callable[[], None],
    ) -> None:
        name = scripts.channel(self._db, stream_id).encode()
        self._followers[name] = (deliver, lost)
        try:
            pubsub = self._channels()
            await pubsub.subscribe(name)
        except self._errors as exc:
            self._followers.pop(name, None)
            raise ClusterUnavailable(type(exc).__name__) from None
        self._reading(pubsub)

    async def watch_joins(self, stream_id: str, joined: Callable[[], None]) -> bool:
        self._join_watchers[stream_id] = joined
        if self._node_subscribed:
            return True
        try:
            pubsub = self._channels()
            await pubsub.subscribe(self._node_channel)  # once per node, kept for good
        except self._errors:
            return False
        self._node_subscribed = True
        self._reading(pubsub)
        return True

    def unwatch_joins(self, stream_id: str) -> None:
        self._join_watchers.pop(stream_id, None)

    async def join(self, stream_id: str, holder: str) -> None:
        node = node_of(holder)
        if not node:
            return
        with contextlib.suppress(*self._errors):
            async with asyncio.timeout(LEAVE_TIMEOUT_SECONDS):
                await self._redis.publish(scripts.node_channel(self._db, node), stream_id)

    def _channels(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        return self._pubsub

    def _reading(self, pubsub: PubSub) -> None:
        """The channel connection works (it just carried a SUBSCRIBE): read it."""
        self._reader_ok = True
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(
                self._read_loop(pubsub), name="cluster-channels"
            )

    async def unfollow(self, stream_id: str) -> None:
        name = scripts.channel(self._db, stream_id).encode()
        if self._followers.pop(name, None) is None or self._pubsub is None:
            return
        try:
            await self._pubsub.unsubscribe(name)
        except self._errors:
            # Not re-subscribed after a reconnect: redis-py replays only what it still lists.
            self._pubsub.channels.pop(name, None)

    async def _read_loop(self, pubsub: PubSub) -> None:
        while True:
            try:
                if not pubsub.subscribed:
                    self._reader_ok = True  # nothing followed: nothing to miss
                    await asyncio.sleep(self._tick_seconds)
                    continue
                raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                self._reader_ok = True
            except self._errors as exc:
                if self._reader_ok:
                    log.warning("cluster_channels_lost", error_type=type(exc).__name__)
                self._reader_ok = False
                for _deliver, lost in list(self._followers.values()):
                    lost()
                await asyncio.sleep(RECONNECT_SECONDS)
                with contextlib.suppress(*self._errors):
                    await pubsub.connect()  # type: ignore[no-untyped-call]  # re-subscribes every channel it still lists
                continue
            if raw is None or raw.get("type") != "message":
                continue
            if raw["channel"] == self._node_channel:  # another node follows a stream now
                watcher = self._join_watchers.get(_text(raw["data"]))
                if watcher is not None:
                    watcher()
                continue
            follower = self._followers.get(raw["channel"])
            if follower is None:
                continue
            try:
                message = self._decoder.decode(raw["data"])
            except msgspec.DecodeError:
                self._counters.dropped["undecodable"] += 1
                log.warning("cluster_message_undecodable", channel=_text(raw["channel"]))
                continue
            follower[0](message)

    async def aclose(self) -> None:
        for task in (self._reader, self._sender):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, *self._errors):
                    await task
        if self._pubsub is not None:
            with contextlib.suppress(*self._errors):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
