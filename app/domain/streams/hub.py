"""StreamHub: one upstream loop per distinct stream, shared by all of its subscribers."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from app.domain.errors import (
    DomainError,
    ServerShuttingDown,
    StreamEnded,
    StreamInterrupted,
    WatchTimeout,
)
from app.domain.streams.backoff import Backoff
from app.domain.streams.model import (
    StreamKey,
    StreamRequest,
    StreamUpdate,
    Subscriber,
    SubscriptionRejected,
)
from app.domain.streams.upstream import run_upstream
from app.domain.streams.watchdog import watchdog_seconds
from app.ports.instance_cache import InstanceCache
from app.ports.stream_publisher import StreamPublisher

log = structlog.get_logger(__name__)

ALREADY_EXISTS = "Subscription already exists"
CLOSE_TIMEOUT_SECONDS = 10.0


class StreamPolicy(Protocol):
    """The stream settings the hub reads (``app.settings.StreamSettings``)."""

    retry_initial_seconds: float
    retry_max_seconds: float
    retry_factor: float
    retry_jitter: float
    watchdog_seconds: dict[str, float]
    rest_watch_timeout_seconds: float


@dataclass(eq=False)
class _Stream:
    key: StreamKey
    request: StreamRequest
    ready: asyncio.Future[None]
    task: asyncio.Task[None] | None = None
    subscribers: dict[Subscriber, None] = field(default_factory=dict)
    waiters: set[asyncio.Future[Any]] = field(default_factory=set)
    pending: int = 0
    closed: bool = False
    end_message: str | None = None
    _targets: tuple[Subscriber, ...] | None = None

    @property
    def targets(self) -> tuple[Subscriber, ...]:
        if self._targets is None:
            self._targets = tuple(self.subscribers)
        return self._targets

    def changed(self) -> None:
        self._targets = None

    @property
    def unused(self) -> bool:
        return not self.subscribers and not self.waiters and self.pending == 0


class _Sink:
    """Binds one stream's loop events to the hub."""

    def __init__(self, hub: StreamHub, stream: _Stream) -> None:
        self._hub, self._stream = hub, stream

    def on_ready(self) -> None:
        if not self._stream.ready.done():
            self._stream.ready.set_result(None)

    def on_data(self, data: Any, restarted: bool) -> None:
        self._hub._deliver(self._stream, data, restarted)

    def on_error(self, message: str, error: BaseException) -> None:
        _log_stream("stream_retrying", self._stream, error)
        self._hub._fail(self._stream, message, error)

    def on_end(self, message: str, error: BaseException) -> None:
        _log_stream("stream_ended", self._stream, error)
        self._hub._end(self._stream, message, error)


class StreamHub:
    """Subscriptions of every connection, and the upstream loops that feed them."""

    def __init__(
        self,
        cache: InstanceCache,
        publisher: StreamPublisher,
        settings: StreamPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._cache = cache
        self._publisher = publisher
        self._settings = settings
        self._sleep = sleep
        self._clock_ms = clock_ms
        self._rand = rand
        self._streams: dict[StreamKey, _Stream] = {}
        self._by_connection: dict[str, dict[Subscriber, _Stream | None]] = {}
        self._stopping: dict[StreamKey, asyncio.Task[None]] = {}
        self.loops_started = 0

    # -- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, subscriber: Subscriber, request: StreamRequest) -> None:
        """Join (or start) the stream; returns once the stream is validated and live.

        Raises:
            SubscriptionRejected: a duplicate, or a permanent problem with the stream.
            DomainError: the instance could not be made ready (e.g. exchange unreachable).
        """
        subs = self._by_connection.setdefault(subscriber.connection_id, {})
        if subscriber in subs:
            raise SubscriptionRejected(ALREADY_EXISTS)
        subs[subscriber] = None  # reserved: a concurrent duplicate is refused
        try:
            stream = await self._acquire(request)
        except BaseException:
            self._release_reservation(subscriber)
            raise
        subs = self._by_connection.get(subscriber.connection_id, {})
        if subscriber not in subs:  # the connection left while the stream was starting
            self._maybe_stop(stream)
            raise SubscriptionRejected("Subscription cancelled")
        subs[subscriber] = stream
        stream.subscribers[subscriber] = None
        stream.changed()

    def unsubscribe(self, subscriber: Subscriber) -> bool:
        """End one subscription; True if it existed. The loop stops with its last subscriber."""
        subs = self._by_connection.get(subscriber.connection_id)
        if subs is None or subscriber not in subs:
            return False
        stream = subs.pop(subscriber)
        if not subs:
            del self._by_connection[subscriber.connection_id]
        if stream is not None:
            self._detach(stream, subscriber)
        return True

    def drop_connection(self, connection_id: str) -> int:
        """End every subscription of a connection (disconnect); returns how many there were."""
        subs = self._by_connection.pop(connection_id, {})
        for subscriber, stream in subs.items():
            if stream is not None:
                self._detach(stream, subscriber)
        return len(subs)

    def subscription_count(self, connection_id: str) -> int:
        return len(self._by_connection.get(connection_id, ()))

    def has_subscription(self, subscriber: Subscriber) -> bool:
        return subscriber in self._by_connection.get(subscriber.connection_id, ())

    # -- one-shot reads -------------------------------------------------------------------

    async def next_update(self, request: StreamRequest, timeout: float | None = None) -> Any:
        """The stream's next update, sharing its upstream loop with every other subscriber.

        Args:
            request: the stream to read.
            timeout: seconds; default ``settings.rest_watch_timeout_seconds``.

        A timeout cancels only this reader's own future: the upstream read is a separate task
        (shared with every subscriber) and ``_acquire`` waits on a shield.

        Raises:
            WatchTimeout: nothing arrived within ``timeout`` seconds.
            DomainError: validation failed, or the upstream failed while waiting (each a
                specific class: StreamStalled, StreamInterrupted, RateLimited, ...).
        """
        if timeout is None:
            timeout = self._settings.rest_watch_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                stream = await self._acquire(request)
                waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                stream.waiters.add(waiter)
                try:
                    return await waiter
                finally:
                    stream.waiters.discard(waiter)
                    self._maybe_stop(stream)
        except TimeoutError:
            raise WatchTimeout(f"No update within {timeout:g}s") from None

    # -- introspection and shutdown -------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return {
            "streams": len(self._streams),
            "loops": sum(1 for s in self._streams.values() if s.task and not s.task.done())
            + sum(1 for t in self._stopping.values() if not t.done()),
            "subscriptions": sum(len(s) for s in self._by_connection.values()),
            "connections": len(self._by_connection),
        }

    async def idle(self) -> None:
        """Wait until every stopped loop has un-watched and released its instance."""
        for _ in range(100):
            tasks = [t for t in self._stopping.values() if not t.done()]
            if not tasks:
                return
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_SECONDS)

    async def aclose(self) -> None:
        """Stop every loop (shutdown)."""
        streams = list(self._streams.values())
        self._by_connection.clear()
        for stream in streams:
            for waiter in stream.waiters:
                if not waiter.done():
                    waiter.set_exception(ServerShuttingDown("Server shutting down"))
            stream.subscribers.clear()
            stream.waiters.clear()
            stream.pending = 0
            self._stop(stream)
        await self.idle()

    # -- internals ------------------------------------------------------------------------

    def _key(self, request: StreamRequest) -> StreamKey:
        return StreamKey(
            instance=self._cache.key_for(request.config),
            data_type=request.data_type,
            symbol=request.symbol,
            timeframe=request.timeframe if request.data_type == "ohlcv" else None,
        )

    async def _acquire(self, request: StreamRequest) -> _Stream:
        key = self._key(request)
        stream = self._streams.get(key)
        if stream is None or stream.closed:
            stream = self._start(key, request)
        stream.pending += 1
        try:
            await asyncio.shield(stream.ready)
        except BaseException:
            stream.pending -= 1
            self._maybe_stop(stream)
            raise
        stream.pending -= 1
        if stream.closed:
            if stream.end_message is None:  # stopped, not ended by an error
                raise StreamEnded("Stream ended")
            raise SubscriptionRejected(stream.end_message)
        return stream

    def _start(self, key: StreamKey, request: StreamRequest) -> _Stream:
        loop = asyncio.get_running_loop()
        stream = _Stream(key=key, request=request, ready=loop.create_future())
        stream.ready.add_done_callback(_consume_exception)
        s = self._settings
        backoff = Backoff(
            s.retry_initial_seconds, s.retry_max_seconds, s.retry_factor, s.retry_jitter, self._rand
        )
        stream.task = loop.create_task(
            self._run(stream, backoff), name=f"upstream:{key.data_type}:{key.symbol}"
        )
        self._streams[key] = stream
        self.loops_started += 1
        _log_stream("stream_started", stream)
        return stream

    async def _run(self, stream: _Stream, backoff: Backoff) -> None:
        try:
            await run_upstream(
                stream.request,
                self._cache,
                _Sink(self, stream),
                backoff=backoff,
                watchdog=watchdog_seconds(self._settings.watchdog_seconds, stream.key.data_type),
                sleep=self._sleep,
                previous=self._stopping.get(stream.key),
            )
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
            self._end(stream, getattr(exc, "details", "Stream failed"), exc, quiet=True)
        finally:
            if self._streams.get(stream.key) is stream:
                del self._streams[stream.key]

    def _deliver(self, stream: _Stream, data: Any, restarted: bool) -> None:
        key = stream.key
        if stream.subscribers:
            update = StreamUpdate(
                exchange_id=stream.request.exchange_id,
                data_type=key.data_type,
                symbol=key.symbol,
                timeframe=key.timeframe,
                data=data,
                timestamp=self._clock_ms(),
                restarted=restarted,
            )
            self._publisher.publish(update, stream.targets)
        if stream.waiters:
            copy = plain_copy(data)
            for waiter in stream.waiters:
                if not waiter.done():
                    waiter.set_result(copy)

    def _fail(self, stream: _Stream, message: str, error: BaseException) -> None:
        if stream.subscribers:
            self._publisher.publish_error(message, stream.targets)
        # A waiter is told the specific cause; an error we do not classify is the upstream's.
        failure = error if isinstance(error, DomainError) else StreamInterrupted(message)
        for waiter in stream.waiters:
            if not waiter.done():
                waiter.set_exception(failure)

    def _end(self, stream: _Stream, message: str, error: BaseException, quiet: bool = False) -> None:
        """A permanent error: tell everyone once, forget every subscription of the stream."""
        stream.closed = True
        stream.end_message = message
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
        if not quiet:
            self._fail(stream, message, error)
        for subscriber in stream.subscribers:
            subs = self._by_connection.get(subscriber.connection_id)
            if subs is not None and subs.get(subscriber) is stream:
                del subs[subscriber]
                if not subs:
                    del self._by_connection[subscriber.connection_id]
            self._publisher.discard(subscriber)
        stream.subscribers.clear()
        stream.changed()

    def _detach(self, stream: _Stream, subscriber: Subscriber) -> None:
        if stream.subscribers.pop(subscriber, 0) is None:
            stream.changed()
        self._publisher.discard(subscriber)
        self._maybe_stop(stream)

    def _release_reservation(self, subscriber: Subscriber) -> None:
        subs = self._by_connection.get(subscriber.connection_id)
        if subs is not None and subs.get(subscriber, 0) is None:
            del subs[subscriber]
            if not subs:
                del self._by_connection[subscriber.connection_id]

    def _maybe_stop(self, stream: _Stream) -> None:
        if stream.unused and not stream.closed:
            self._stop(stream)

    def _stop(self, stream: _Stream) -> None:
        stream.closed = True
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
        task = stream.task
        if task is None or task.done():
            return
        task.cancel()
        _log_stream("stream_stopped", stream)
        self._stopping[stream.key] = task
        task.add_done_callback(functools.partial(self._forget_stopping, stream.key))

    def _forget_stopping(self, key: StreamKey, task: asyncio.Task[None]) -> None:
        if self._stopping.get(key) is task:
            del self._stopping[key]


def _log_stream(event: str, stream: _Stream, error: BaseException | None = None) -> None:
    # The instance key holds a keyed hash of the credentials, never the credentials.
    fields: dict[str, Any] = {
        "instance": stream.key.instance,
        "data_type": stream.key.data_type,
        "symbol": stream.key.symbol,
    }
    if stream.key.timeframe:
        fields["timeframe"] = stream.key.timeframe
    if error is not None:
        fields["error_type"] = getattr(error, "error_type", type(error).__name__)
        fields["error"] = getattr(error, "details", "")
    log.info(event, **fields)


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def plain_copy(value: Any, depth: int = 0) -> Any:
    """A copy made of plain dicts and lists, safe from later in-place changes upstream."""
    if depth > 32:
        return value
    if isinstance(value, Mapping):
        return {k: plain_copy(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(v, depth + 1) for v in value]
    return value
