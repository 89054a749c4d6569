"""StreamHub: one upstream loop per distinct stream, started on first use, stopped on last."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.domain.cluster.model import stream_id
from app.domain.cluster.runner import ClusteredStream
from app.domain.errors import (
    DomainError,
    ServerShuttingDown,
    StreamEnded,
    WatchTimeout,
)
from app.domain.streams.backoff import Backoff
from app.domain.streams.book import BookFrame, BookTracker, cut_book
from app.domain.streams.candles import GapFillBounds, fetch_history, merge_history
from app.domain.streams.events import StreamEvents, log_stream, plain_copy
from app.domain.streams.model import (
    LIVE,
    StreamKey,
    StreamRequest,
    StreamUpdate,
    Subscriber,
    SubscriptionRejected,
)
from app.domain.streams.stream import Stream
from app.domain.streams.upstream import UpstreamEvents, run_upstream, validate
from app.domain.streams.watchdog import watchdog_seconds
from app.ports.instance_cache import InstanceCache
from app.ports.metrics import Metrics
from app.ports.stream_ownership import StreamOwnership
from app.ports.stream_publisher import StreamPublisher

CLOSE_TIMEOUT_SECONDS = 10.0


class StreamPolicy(Protocol):
    """The stream settings the hub reads (``app.settings.StreamSettings``)."""

    retry_initial_seconds: float
    retry_max_seconds: float
    retry_factor: float
    retry_jitter: float
    watchdog_seconds: dict[str, float]
    rest_watch_timeout_seconds: float
    gap_fill_max_pages: int
    gap_fill_max_candles: int


@dataclass(frozen=True, slots=True)
class LatestUpdate:
    """A live stream's most recent update and how old it is.

    ``data`` is what the exchange library delivered and may still be changed in place by it:
    copy it (``events.plain_copy``) before keeping or editing it.
    """

    data: Any
    age_seconds: float


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """One live stream as introspection sees it: counts only, no credentials, no data."""

    exchange_id: str
    data_type: str
    symbol: str
    timeframe: str | None
    subscribers: int
    waiters: int
    """REST watch callers waiting for the next update."""
    latest_age_seconds: float | None
    """Seconds since the last update; None before the first."""
    latest_lag_seconds: float | None = None
    """Exchange timestamp to server of the last update (s); None when it has none."""
    key: str = ""
    """The stream's cluster-wide id (``app.domain.cluster.model.stream_id``): no credential."""
    owner: bool = True
    """This node runs the stream's upstream loop (always, in a single process)."""
    role: str | None = None
    """In a cluster: ``owner``, ``follower``, ``alone`` (Redis unreachable: this node serves
    its own subscribers) or ``starting`` (before the first round); None in a single process."""
    owner_node: str | None = None
    """In a cluster: the node that runs the upstream loop as last seen ("" before the first
    round); None in a single process."""


def _ignore_ended(_stream: Stream, _subscribers: list[Subscriber]) -> None:
    return None


class StreamHub:
    """The upstream loops: acquire a live stream, attach and detach subscribers, stop unused ones.

    Args:
        cache: the instance cache the loops hold their gateways from.
        publisher: where updates and errors for subscribers go.
        settings: retry, watchdog, REST watch timeout, gap-fill bounds (``StreamPolicy``).
        on_subscribers_ended: told which subscribers a permanently ended stream had (the
            subscription registry forgets them).
        ownership: in a cluster (``shared``), which node runs each stream's loop; the others
            follow its reports (``app.domain.cluster.runner``, ADR 0140). None or not shared:
            every loop runs here, as a single process.
    """

    def __init__(
        self,
        cache: InstanceCache,
        publisher: StreamPublisher,
        settings: StreamPolicy,
        *,
        on_subscribers_ended: Callable[[Stream, list[Subscriber]], None] = _ignore_ended,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
        ownership: StreamOwnership | None = None,
    ) -> None:
        self._cache = cache
        self._ownership = ownership if ownership is not None and ownership.shared else None
        self._clustered: dict[Stream, ClusteredStream] = {}
        self._metrics = metrics
        self._publisher = publisher
        self._settings = settings
        self._on_subscribers_ended = on_subscribers_ended
        self._sleep = sleep
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._rand = rand
        self._streams: dict[StreamKey, Stream] = {}
        self._stopping: dict[StreamKey, asyncio.Task[None]] = {}
        self.loops_started = 0

    def key(self, request: StreamRequest) -> StreamKey:
        """The stream a request names (the instance key hashes credentials)."""
        return StreamKey(
            instance=self._cache.key_for(request.config),
            data_type=request.data_type,
            symbol=request.symbol,
            timeframe=request.timeframe if request.data_type == "ohlcv" else None,
        )

    async def acquire(self, request: StreamRequest) -> Stream:
        """The live stream for a request, started if needed; returns once it is validated.

        Attach a subscriber (or add a waiter) before the next ``await``, or ``release`` it:
        an unused stream is stopped.

        Raises:
            SubscriptionRejected: a permanent problem (unsupported, unknown symbol, ended).
            DomainError: the instance could not be made ready (e.g. exchange unreachable).
        """
        request = await self.resolve(request)
        key = self.key(request)
        stream = self._streams.get(key)
        if stream is None or stream.closed:
            stream = self._start(key, request)
        stream.pending += 1
        try:
            await asyncio.shield(stream.ready)
        except BaseException:
            stream.pending -= 1
            self.release(stream)
            raise
        stream.pending -= 1
        if stream.closed:
            if isinstance(stream.end_error, DomainError):  # ended by a permanent error: that one
                raise stream.end_error
            if stream.end_message is None:  # stopped, not ended by an error
                raise StreamEnded("Stream ended")
            raise SubscriptionRejected(stream.end_message)
        return stream

    async def resolve(self, request: StreamRequest) -> StreamRequest:
        """The request validated against the exchange, its symbol as the exchange lists it.

        Every spelling of one market (``BTCUSDT``, ``BTC/USDT``) thus names one stream; the
        subscriber's own spelling travels in its ``Echo``.

        Raises:
            SubscriptionRejected, BadSymbol, BadInput: see ``upstream.validate``.
            DomainError: the instance could not be made ready (e.g. exchange unreachable).
        """
        async with self._cache.hold(request.config) as gateway:
            return await validate(gateway, request)

    def attach(self, stream: Stream, subscriber: Subscriber) -> None:
        stream.add(subscriber)

    async def greet(self, stream: Stream, subscriber: Subscriber) -> None:
        """Send a subscriber that has just been told ``subscribed`` what it has missed.

        The stream's latest update goes at once as a ``data`` event marked ``cached`` (with
        the time it was first delivered), unless a live update already reached it; a delta
        subscriber gets it as a snapshot of its depth. With ``history: N`` (ohlcv) the first
        event holds the last N closed candles plus the current one (REST, merged with the
        live candles); live updates follow it. A stream that is not live also sends its
        current ``status`` first.
        """
        echo = subscriber.echo or stream.own_echo
        history = bool(echo.view.history) and subscriber in stream.held
        if not history and subscriber not in stream.ungreeted:
            return  # greeted already, or a live update reached it first
        if stream.state != LIVE:
            self._publisher.publish_status(stream.state, stream.status_reason, (subscriber,))
        if history and echo.view.history:
            try:
                await self._send_history(stream, subscriber, echo.view.history)
            finally:
                # Sent, failed, cancelled or left meanwhile: never left out of live updates.
                stream.release_held(subscriber)
            return
        stream.ungreeted.discard(subscriber)
        if stream.latest_at is None or stream.closed:
            return
        data: Any = stream.latest
        if stream.key.data_type == "orderbook" and echo.view.delta:
            data = self._book_snapshot(stream, echo.view.depth)
        elif stream.key.data_type == "orderbook" and echo.view.depth is not None:
            data = cut_book(data, echo.view.depth)
        self._send_one(stream, subscriber, data, stream.latest_timestamp, cached=True)

    def resync(self, stream: Stream, subscriber: Subscriber) -> bool:
        """A delta subscriber asks for a fresh snapshot: sent at once if the stream has a
        book, else its next event is one anyway (its first). False: not a delta subscription.
        """
        echo = subscriber.echo or stream.own_echo
        if stream.key.data_type != "orderbook" or not echo.view.delta:
            return False
        if stream.latest_at is not None and not stream.closed:
            data = self._book_snapshot(stream, echo.view.depth)
            self._send_one(stream, subscriber, data, stream.latest_timestamp)
        return True

    def _book_snapshot(self, stream: Stream, depth: int | None) -> BookFrame:
        # The tracker's last frame is what every delta of that depth continues from; seeding
        # a new tracker from the latest book keeps the joiner's next delta consistent.
        tracker = stream.books.get(depth)
        if tracker is None or tracker.last is None:
            tracker = stream.books[depth] = BookTracker(depth)
            tracker.advance(plain_copy(stream.latest), restarted=True)
        assert tracker.last is not None
        return tracker.last.snapshot_only()

    async def _send_history(self, stream: Stream, subscriber: Subscriber, count: int) -> None:
        """``count`` closed candles plus the current one, REST (paged past an exchange's cap)
        merged with the stream's live candles. ``cached: true`` when the stream had already
        delivered a live update (the event replays it, as any joiner's first event does);
        a history on a stream that has just started is all fresh, so not marked."""
        rest: dict[Any, list[Any]] = {}
        try:
            async with asyncio.timeout(self._settings.rest_watch_timeout_seconds):
                async with self._cache.hold(stream.request.config) as gateway:
                    rest = await fetch_history(
                        gateway, stream.key.symbol, stream.key.timeframe or "1m", count + 1
                    )
        except Exception as exc:  # noqa: BLE001 - live candles still flow without history
            log_stream("stream_history_failed", stream, exc)
        if subscriber not in stream.subscribers or stream.closed:
            return
        stream.ungreeted.discard(subscriber)
        candles = merge_history(rest, stream.candles, count + 1)
        cached = stream.latest_at is not None
        self._send_one(stream, subscriber, candles, self._clock_ms(), cached=cached)

    def _send_one(
        self,
        stream: Stream,
        subscriber: Subscriber,
        data: Any,
        timestamp: int,
        *,
        cached: bool = False,
    ) -> None:
        echo = subscriber.echo or stream.own_echo
        update = StreamUpdate(
            exchange_id=stream.request.exchange_id,
            data_type=stream.key.data_type,
            symbol=echo.symbol,
            timeframe=echo.timeframe,
            data=data,
            timestamp=timestamp,
            cached=cached,
        )
        self._publisher.publish(update, (subscriber,))

    def detach(self, stream: Stream, subscriber: Subscriber) -> None:
        """Remove a subscriber (and anything still queued for it); stop the loop if unused."""
        stream.remove(subscriber)
        self._publisher.discard(subscriber)
        self.release(stream)

    def release(self, stream: Stream) -> None:
        """Stop the stream's loop if nobody uses it any more."""
        if stream.unused and not stream.closed:
            runner = self._clustered.get(stream)
            if runner is not None and runner.serves_others:
                runner.wake()  # other nodes may still listen: the owner's round decides
                return
            self._stop(stream)

    def forget_connection(self, connection_id: str) -> None:
        """The connection is gone: the publisher drops whatever it keeps for it."""
        self._publisher.forget_connection(connection_id)

    async def next_update(self, request: StreamRequest, timeout: float | None = None) -> Any:
        """The stream's next update (a plain copy), sharing the loop with every subscriber.

        Args:
            request: the stream to read.
            timeout: seconds; default ``settings.rest_watch_timeout_seconds``.

        A timeout cancels only this reader's own future: the upstream read is a separate task
        (shared with every subscriber) and ``acquire`` waits on a shield.

        Raises:
            WatchTimeout: nothing arrived within ``timeout`` seconds.
            DomainError: validation failed, or the upstream failed while waiting (each a
                specific class: StreamStalled, StreamInterrupted, RateLimited, ...).
        """
        if timeout is None:
            timeout = self._settings.rest_watch_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                stream = await self.acquire(request)
                waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                stream.waiters.add(waiter)
                try:
                    return await waiter
                finally:
                    stream.waiters.discard(waiter)
                    self.release(stream)
        except TimeoutError:
            raise WatchTimeout(f"No update within {timeout:g}s") from None

    def latest(self, request: StreamRequest) -> LatestUpdate | None:
        """The latest update of the request's stream if it is live and has delivered one."""
        stream = self._streams.get(self.key(request))
        if stream is None or stream.closed or stream.latest_at is None:
            return None
        return LatestUpdate(stream.latest, max(0.0, self._monotonic() - stream.latest_at))

    def snapshot(self) -> list[StreamSnapshot]:
        """Every live stream with its subscriber and waiter counts (metrics, tests)."""
        now = self._monotonic()
        return [
            StreamSnapshot(
                exchange_id=stream.request.exchange_id,
                data_type=key.data_type,
                symbol=key.symbol,
                timeframe=key.timeframe,
                subscribers=len(stream.subscribers),
                waiters=len(stream.waiters),
                latest_age_seconds=None
                if stream.latest_at is None
                else max(0.0, now - stream.latest_at),
                latest_lag_seconds=stream.latest_lag,
                key=stream_id(key),
                owner=self._owns(stream),
                role=None if runner is None else runner.role,
                owner_node=None if runner is None else runner.owner_node,
            )
            for key, stream in self._streams.items()
            for runner in (self._clustered.get(stream),)
        ]

    @property
    def node(self) -> str | None:
        """This node's name in the cluster; None in a single process."""
        return None if self._ownership is None else self._ownership.node_id

    def _owns(self, stream: Stream) -> bool:
        runner = self._clustered.get(stream)
        return runner is None or runner.runs_upstream

    def stats(self) -> dict[str, int]:
        return {
            "streams": len(self._streams),
            "loops": sum(1 for s in self._streams.values() if s.task and not s.task.done())
            + sum(1 for t in self._stopping.values() if not t.done()),
        }

    async def idle(self) -> None:
        """Wait until every stopped loop has un-watched and released its instance."""
        for _ in range(100):
            tasks = [t for t in self._stopping.values() if not t.done()]
            if not tasks:
                return
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_SECONDS)

    async def aclose(self) -> None:
        """Stop every loop (shutdown); REST waiters get ServerShuttingDown (503)."""
        for stream in list(self._streams.values()):
            for waiter in stream.waiters:
                if not waiter.done():
                    waiter.set_exception(ServerShuttingDown("Server shutting down"))
            stream.waiters.clear()
            stream.pending = 0
            gone = stream.clear_subscribers()
            self._stop(stream)
            self._on_subscribers_ended(stream, gone)
        await self.idle()

    # -- loop lifecycle -------------------------------------------------------------------

    def _start(self, key: StreamKey, request: StreamRequest) -> Stream:
        loop = asyncio.get_running_loop()
        stream = Stream(key=key, request=request, ready=loop.create_future())
        stream.ready.add_done_callback(_consume_exception)
        s = self._settings
        backoff = Backoff(
            s.retry_initial_seconds, s.retry_max_seconds, s.retry_factor, s.retry_jitter, self._rand
        )
        events = StreamEvents(
            stream, self._publisher, self._clock_ms, self._monotonic, self._closed, self._metrics
        )
        if self._ownership is not None:
            self._clustered[stream] = ClusteredStream(
                stream,
                events,
                self._ownership,
                functools.partial(self._upstream, stream, backoff=backoff),
                functools.partial(self._retire, stream),
                self._clock_ms,
                self._monotonic,
            )
        stream.task = loop.create_task(
            self._run(stream, events, backoff), name=f"upstream:{key.data_type}:{key.symbol}"
        )
        self._streams[key] = stream
        self.loops_started += 1
        log_stream("stream_started", stream)
        return stream

    async def _run(self, stream: Stream, events: StreamEvents, backoff: Backoff) -> None:
        try:
            runner = self._clustered.get(stream)
            if runner is not None:
                await runner.run()
            else:
                await self._upstream(stream, events, backoff=backoff)
        except asyncio.CancelledError:
            if not stream.ready.done():
                stream.ready.cancel()
            raise
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting subscribers
            # Validation failed or the instance could not be had: nobody was told `subscribed`.
            if not stream.ready.done():
                stream.ready.set_exception(
                    exc if isinstance(exc, DomainError) else SubscriptionRejected("Stream failed")
                )
            events.end(getattr(exc, "details", "Stream failed"), exc, quiet=True)
        finally:
            self._forget(stream)
            self._clustered.pop(stream, None)

    async def _upstream(self, stream: Stream, events: UpstreamEvents, *, backoff: Backoff) -> None:
        await run_upstream(
            stream.request,
            self._cache,
            events,
            backoff=backoff,
            watchdog=watchdog_seconds(self._settings.watchdog_seconds, stream.key.data_type),
            sleep=self._sleep,
            previous=self._stopping.get(stream.key),
            gap_fill=GapFillBounds(
                self._settings.gap_fill_max_pages, self._settings.gap_fill_max_candles
            ),
        )

    def _closed(self, stream: Stream, subscribers: list[Subscriber]) -> None:
        self._forget(stream)
        self._on_subscribers_ended(stream, subscribers)

    def _forget(self, stream: Stream) -> None:
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]

    def _stop(self, stream: Stream) -> None:
        stream.closed = True
        self._forget(stream)
        task = stream.task
        if task is None or task.done():
            return
        task.cancel()
        log_stream("stream_stopped", stream)
        self._stopping[stream.key] = task
        task.add_done_callback(functools.partial(self._forget_stopping, stream.key))

    def _retire(self, stream: Stream) -> None:
        """A clustered stream ends itself (released, or a follower nobody here uses): closed
        and forgotten at once; its own task finishes the clean-up (no cancel)."""
        stream.closed = True
        self._forget(stream)
        log_stream("stream_stopped", stream)
        task = stream.task
        if task is not None and not task.done():
            self._stopping[stream.key] = task
            task.add_done_callback(functools.partial(self._forget_stopping, stream.key))

    def _forget_stopping(self, key: StreamKey, task: asyncio.Task[None]) -> None:
        if self._stopping.get(key) is task:
            del self._stopping[key]


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
