"""ClusteredStream: one stream on one cluster node - owner, follower, or alone (ADR 0140).

- **owner**: this node holds the stream's lease; it runs the upstream loop, and every report
  goes to the local subscribers and, fenced, to the stream's channel. It renews the lease
  each round; a round that finds the lease gone to another node stops the loop at once.
- **follower**: another node holds it; this node follows the channel and feeds the reports
  through the same ``StreamEvents`` as a local loop would (latest for a cached join, book
  trackers, candles, status, REST waiters), so every feature works on every node. Reports
  with a fence lower than the highest seen are dropped. Each round it tries to take the
  lease: when the owner dies the lease expires and a follower takes it, tells its
  subscribers (and the other followers) ``error`` + ``status recovering``, and starts the
  loop; the first update after it is a snapshot.
- **publishing only for followers** (ADR 0171): an owner publishes its reports only while
  another node has subscribers of the stream (each round's heartbeats), so a stream nobody
  else follows costs Redis one round per tick, not a call per update. A node that starts
  following sends ``join`` to the owner; the owner publishes again at once, first its latest
  update and failure state (stored for ``last_reports``) when it had been skipping, then a
  ``sync``. The new follower waits for that ``sync`` (at most a tick) before it reads the
  stored reports and lets its subscribers in: its first subscriber gets the owner's latest
  update, cached, and every update after it.
- **alone**: the shared store cannot be reached: the node runs the loop for its own
  subscribers, publishing nothing, and keeps trying; when the store answers again one node
  takes the lease and the others stop their loops and follow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog

from app.domain.cluster.model import (
    FOLLOWER,
    OWNER,
    RELEASED,
    ClusterMessage,
    ClusterUnavailable,
    fence_of,
    node_of,
    rebuild_error,
    stream_id,
)
from app.domain.errors import DomainError, StreamInterrupted
from app.domain.streams.events import StreamEvents
from app.domain.streams.stream import Stream
from app.domain.streams.upstream import GENERIC_ERROR, UN_WATCH_TIMEOUT_SECONDS, UpstreamEvents
from app.ports.stream_ownership import StreamOwnership

log = structlog.get_logger("app.domain.streams.hub")

Role = Literal["starting", "owner", "follower", "alone"]
StartUpstream = Callable[[UpstreamEvents], Awaitable[None]]
_ACQUIRED_FROM = {"starting": "none", "follower": "follower", "alone": "alone"}


class ClusteredStream:
    """Drives one ``Stream`` of the hub on a cluster node; ``run`` is the stream's task.

    Args:
        stream: the hub's stream (its subscribers, waiters, latest...).
        events: the stream's local ``StreamEvents``.
        ownership: the cluster's leases, heartbeats and channels.
        start_upstream: runs the upstream loop with the given events until cancelled.
        stop: the hub stops the stream (nobody uses it any more, here or elsewhere).
        clock_ms, monotonic: the hub's clocks (server time in ms; seconds).
    """

    def __init__(
        self,
        stream: Stream,
        events: StreamEvents,
        ownership: StreamOwnership,
        start_upstream: StartUpstream,
        stop: Callable[[], None],
        clock_ms: Callable[[], int],
        monotonic: Callable[[], float],
    ) -> None:
        self._stream = stream
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._events = events
        self._ownership = ownership
        self._start_upstream = start_upstream
        self._stop = stop
        self.id = stream_id(stream.key)
        self.role: Role = "starting"
        self.owner_node = ""
        """The node that runs the stream's upstream loop as last seen ("" before the first
        round): this node as owner or alone, else the lease holder's node."""
        self._holder = ""
        self._seen = 0
        """Highest fence seen for this stream (rounds and reports)."""
        self._following = False
        self._others = False
        """Owner: another node has subscribers (publish reports); False: skip them."""
        self._joins = 0
        """``join`` notices received (a round that overlaps one keeps publishing)."""
        self._watching_joins = False
        self._joining: asyncio.Future[None] | None = None
        """Set while this node waits for the owner's ``sync`` after it started following."""
        self._seeded: ClusterMessage | None = None
        """Follower: the stored update it started from, until a later one arrives (the same
        update may still be on its way on the channel: not delivered twice)."""
        self._last_state: ClusterMessage | None = None
        """Owner: its last ``error``/``stale`` report while not live again (for a joiner)."""
        self._upstream: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._publishing = _PublishingEvents(self)
        self.dropped_stale = 0
        """Reports dropped for a fence lower than the highest seen."""

    @property
    def runs_upstream(self) -> bool:
        """True when this node runs the stream's upstream loop (owner, or alone)."""
        return self.role in ("owner", "alone")

    @property
    def serves_others(self) -> bool:
        """True when other nodes may still need this node's loop (it owns the lease)."""
        return self.role == "owner"

    def wake(self) -> None:
        """Run a round now (a local subscriber count changed, a report was refused...)."""
        self._wake.set()

    async def run(self) -> None:
        """Rounds until the stream is stopped or ends; raises what the upstream raised before
        it was ready (validation, instance), like a single-process loop."""
        try:
            while not self._stream.closed:
                await self._round()
                upstream = self._upstream
                if upstream is not None and upstream.done():
                    self._upstream = None
                    upstream.result()  # re-raise what stopped it
                    return  # it ended by itself: a permanent error ended the stream
                if self._ended():
                    return
                waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
                if self._upstream is not None:
                    waits.add(self._upstream)
                try:
                    await asyncio.wait(
                        waits,
                        timeout=self._ownership.tick_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    for wait in waits:
                        if wait is not self._upstream:
                            wait.cancel()
                self._wake.clear()
        finally:
            self._ownership.unwatch_joins(self.id)
            await self._stop_upstream()
            await self._unfollow()
            with contextlib.suppress(Exception):
                await self._ownership.leave(self.id, self._holder if self.role == OWNER else "")

    def _ended(self) -> bool:
        return self._stream.closed  # a round may have closed it (released, or an end report)

    def _local_count(self) -> int:
        stream = self._stream
        return len(stream.subscribers) + len(stream.waiters) + stream.pending

    async def _round(self) -> None:
        local = self._local_count()
        release = local == 0 and self.role != "starting"
        holder = self._holder if self.role in ("owner", "alone") else ""
        if not self._watching_joins:  # before this node can own it: no notice is missed
            self._watching_joins = await self._ownership.watch_joins(self.id, self._joined)
        joins = self._joins
        try:
            if self.role == "follower" and not self._ownership.reachable:
                raise ClusterUnavailable("channels")  # reports may be missed: serve alone
            lease = await self._ownership.tick(self.id, local, holder, release)
        except ClusterUnavailable:
            await self._go_alone()
            return
        self._seen = max(self._seen, lease.fence)
        if lease.role == RELEASED:
            self._holder = ""
            if self._local_count() > 0:  # someone joined here meanwhile: take it up again
                self.role = "alone"
                self.wake()
                return
            log.info("stream_released", stream=self.id)
            self.role = FOLLOWER  # nothing to give up in the final leave
            self._stop()  # at once, before any await: nobody can join a released stream
            await self._stop_upstream()
            return
        if lease.role == OWNER:
            # Heartbeats are written before a joiner's notice: a round that started after
            # the notice sees the joiner; one that overlapped it may not.
            joined_meanwhile = self._joins != joins
            answered = self.role == "owner"  # a notice that came while owning was answered
            self._others = lease.elsewhere > 0 or (joined_meanwhile and answered)
            await self._own(lease.holder)
            if joined_meanwhile and not answered:
                self._joined()  # it came before this node knew it owned: answer it now
            return
        await self._follow(lease.holder)

    async def _own(self, holder: str) -> None:
        previous = self.role
        self._holder = holder
        self.owner_node = self._ownership.node_id
        self.role = "owner"
        await self._unfollow()
        if previous != "owner":
            self._last_state = None
            self._ownership.counters.acquired[_ACQUIRED_FROM.get(previous, "none")] += 1
            log.info("stream_owned", stream=self.id, fence=fence_of(holder), was=previous)
        if self._upstream is None:
            if previous == "follower":  # the owner went away: say so before the restart
                self._publishing.on_error(GENERIC_ERROR, StreamInterrupted(GENERIC_ERROR))
            self._upstream = asyncio.ensure_future(self._start_upstream(self._publishing))

    async def _follow(self, holder: str) -> None:
        previous = self.role
        self.role = "follower"
        self._holder = ""
        self.owner_node = node_of(holder)
        if previous == "owner":
            self._ownership.counters.lost["taken"] += 1
        if previous != "follower":
            log.info("stream_following", stream=self.id, owner=holder, was=previous)
        await self._stop_upstream()
        if not self._following:
            try:
                await self._ownership.follow(self.id, self._deliver, self.wake)
                self._following = True
                await self._join(holder)
            except ClusterUnavailable:
                await self._go_alone()
                return
        if not self._stream.ready.done():
            self._stream.ready.set_result(None)
        if self._local_count() == 0:
            self._stop()  # a follower nobody here uses: leave at once

    async def _join(self, holder: str) -> None:
        """Tell the owner this node follows now; a node with nothing yet waits (at most a
        tick) for the owner's ``sync``, then starts from the stored last reports.

        Raises:
            ClusterUnavailable: the stored reports cannot be read.
        """
        joining = None
        if self._stream.latest_at is None:
            joining = self._joining = asyncio.get_running_loop().create_future()
        try:
            await self._ownership.join(self.id, holder)
            if joining is not None:  # bounded: an owner that cannot answer is not waited for
                await asyncio.wait({joining}, timeout=self._ownership.tick_seconds)
        finally:
            self._joining = None
        if self._stream.latest_at is None:
            for report in await self._ownership.last_reports(self.id):
                self._seed(report)

    def _joined(self) -> None:
        """Another node follows the stream now (its ``join``): publish again if skipping,
        starting with what it needs, then ``sync``."""
        self._joins += 1
        if self.role != "owner":
            return
        fence = fence_of(self._holder)
        if not self._others:
            self._others = True
            stream = self._stream
            if stream.latest_at is not None:
                stamp = stream.latest_timestamp
                self.publish(ClusterMessage("data", fence, stream.latest, timestamp=stamp))
            if self._last_state is not None:
                self.publish(self._last_state)
        self.publish(ClusterMessage("sync", fence))

    def _seed(self, message: ClusterMessage) -> None:
        """A new follower starts from the owner's last reports: its last update becomes the
        latest (a subscriber joining here gets it at once, ``cached``, with the time the owner
        delivered it); a failure it is still recovering from sets the status it then sees."""
        stream = self._stream
        if message.fence < self._seen:
            return
        if message.kind in ("error", "stale"):
            self._deliver_as_follower(message)  # nobody is attached yet: it sets the state
            return
        if message.kind != "data" or stream.latest_at is not None:
            return
        age_ms = max(0, self._clock_ms() - message.timestamp)
        self._seeded = message if message.fence == self._seen else None
        stream.latest = message.data
        stream.latest_timestamp = message.timestamp
        stream.latest_at = self._monotonic() - age_ms / 1000
        if stream.key.data_type == "ohlcv":
            stream.remember_candles(message.data)

    async def _go_alone(self) -> None:
        previous = self.role
        if previous != "alone":
            log.warning("stream_alone", stream=self.id, was=previous)
        if previous == "owner":
            self._ownership.counters.lost["unreachable"] += 1
        self.role = "alone"
        self.owner_node = self._ownership.node_id
        await self._unfollow()
        if self._local_count() == 0:
            self._stop()  # nobody here to serve, and nobody elsewhere can be reached
            return
        if self._upstream is None:
            if previous == "follower":
                self._events.on_error(GENERIC_ERROR, StreamInterrupted(GENERIC_ERROR))
            self._upstream = asyncio.ensure_future(self._start_upstream(self._publishing))

    async def _stop_upstream(self) -> None:
        upstream, self._upstream = self._upstream, None
        if upstream is None:
            return
        if not upstream.done():
            upstream.cancel()
        await asyncio.wait({upstream}, timeout=UN_WATCH_TIMEOUT_SECONDS + 1)
        if upstream.done() and not upstream.cancelled():
            upstream.exception()  # retrieved: a loop stopped for a new owner is not an error

    async def _unfollow(self) -> None:
        if self._following:
            self._following = False
            await self._ownership.unfollow(self.id)

    # -- reports ----------------------------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Send one report of this node's loop to the followers, while it owns the lease and
        another node follows (else it is only counted as skipped)."""
        if self.role != "owner":
            return
        if not self._others:
            self._ownership.counters.skipped += 1
            return
        self._ownership.publish(self.id, self._holder, message, self.wake)

    def _deliver(self, message: ClusterMessage) -> None:
        if message.fence < self._seen:
            self.dropped_stale += 1
            self._ownership.counters.dropped["stale_fence"] += 1
            return
        self._seen = message.fence
        if self.role != "follower":
            if self.role == "owner" and message.fence > fence_of(self._holder):
                self.wake()  # a later owner speaks: find out at once
            return
        if message.kind == "sync":
            if self._joining is not None and not self._joining.done():
                self._joining.set_result(None)
            return
        if self._joining is not None and message.kind != "end":
            return  # before the owner's sync: the stored reports read after it hold these
        if message.kind == "data" and self._seeded is not None:
            if _not_after(message, self._seeded):
                return  # the update this node started from, or an older one
            self._seeded = None
        self._deliver_as_follower(message)

    def _deliver_as_follower(self, message: ClusterMessage) -> None:
        events = self._events
        if message.kind == "data":
            events.on_data(message.data, message.restarted)
        elif message.kind == "error":
            events.on_error(message.message, rebuild_error(message))
        elif message.kind == "stale":
            events.on_stale(message.message, rebuild_error(message))
        elif message.kind == "end":
            events.on_end(message.message, rebuild_error(message))
            self.wake()


def _not_after(message: ClusterMessage, seeded: ClusterMessage) -> bool:
    """True when ``message`` is ``seeded`` or older: same owner (fence; its clock stamps both)
    and an earlier stamp, or the same stamp and data."""
    if message.fence != seeded.fence:
        return False
    if message.timestamp != seeded.timestamp:
        return message.timestamp < seeded.timestamp
    return bool(message.data == seeded.data)


class _PublishingEvents:
    """The upstream loop's events on an owner: local delivery, then the same report fenced
    to the followers (``UpstreamEvents``)."""

    def __init__(self, runner: ClusteredStream) -> None:
        self._runner = runner

    def on_ready(self) -> None:
        self._runner._events.on_ready()

    def on_data(self, data: Any, restarted: bool) -> None:
        runner = self._runner
        runner._events.on_data(data, restarted)
        runner._last_state = None
        fence, stamp = fence_of(runner._holder), runner._stream.latest_timestamp
        runner.publish(ClusterMessage("data", fence, data, restarted, timestamp=stamp))

    def on_error(self, message: str, error: BaseException) -> None:
        self._runner._events.on_error(message, error)
        self._report("error", message, error)

    def on_stale(self, message: str, error: BaseException) -> None:
        self._runner._events.on_stale(message, error)
        self._report("stale", message, error)

    def on_end(self, message: str, error: BaseException) -> None:
        self._report("end", message, error)
        self._runner._events.on_end(message, error)

    def _report(self, kind: Any, message: str, error: BaseException) -> None:
        error_type = error.error_type if isinstance(error, DomainError) else "StreamInterrupted"
        fence = fence_of(self._runner._holder)
        report = ClusterMessage(kind, fence, message=message, error_type=error_type)
        if kind in ("error", "stale"):
            self._runner._last_state = report
        self._runner.publish(report)
