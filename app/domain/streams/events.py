"""StreamEvents: what one upstream loop reports, delivered to subscribers and REST waiters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from app.domain.errors import DomainError, StreamInterrupted
from app.domain.streams.book import BookFrame, BookTracker, cut_book
from app.domain.streams.lag import exchange_lag_seconds
from app.domain.streams.model import (
    FULL,
    LIVE,
    RECOVERING,
    STALE,
    StreamState,
    StreamUpdate,
    Subscriber,
    View,
)
from app.domain.streams.stream import Stream
from app.domain.streams.watchdog import SilentStream
from app.ports.metrics import Metrics
from app.ports.stream_publisher import StreamPublisher

log = structlog.get_logger("app.domain.streams.hub")  # the event names operators know


class StreamEvents:
    """The upstream loop's reports for one stream (``app.domain.streams.upstream.UpstreamEvents``).

    Updates go to the publisher once per echo group (usually one group: every subscriber sent
    the same symbol and timeframe) and to every REST waiter as a plain copy.

    Args:
        stream: the stream this loop feeds.
        publisher: the transport side.
        clock_ms: server time in ms, stamped on each update.
        monotonic: seconds, for the age of the latest update.
        on_closed: called once when the stream ends for good, with the subscribers it had.
        metrics: told of each update (with its lag), restart and watchdog firing.
    """

    def __init__(
        self,
        stream: Stream,
        publisher: StreamPublisher,
        clock_ms: Callable[[], int],
        monotonic: Callable[[], float],
        on_closed: Callable[[Stream, list[Subscriber]], None],
        metrics: Metrics | None = None,
    ) -> None:
        self._stream = stream
        self._metrics = metrics
        self._publisher = publisher
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._on_closed = on_closed

    def on_ready(self) -> None:
        """Validated and watching: joiners may now be told ``subscribed``."""
        if not self._stream.ready.done():
            self._stream.ready.set_result(None)

    def on_data(self, data: Any, restarted: bool) -> None:
        """One upstream result: hand it to every subscriber and waiter."""
        stream = self._stream
        stream.latest = data
        stream.latest_at = self._monotonic()
        timestamp = self._clock_ms()
        key = stream.key
        stream.latest_lag = exchange_lag_seconds(key.data_type, data, timestamp)
        if self._metrics is not None:
            self._metrics.stream_update(key.data_type, stream.latest_lag)
        stream.latest_timestamp = timestamp
        if stream.state != LIVE:
            self._status(LIVE, "Receiving updates")
        stream.ungreeted.clear()  # they get this live update: no cached one after it
        if stream.key.data_type == "ohlcv":
            stream.remember_candles(data)
        if stream.subscribers:
            views = Views(stream, data, restarted)
            for echo, group in stream.targets:
                update = StreamUpdate(
                    exchange_id=stream.request.exchange_id,
                    data_type=key.data_type,
                    symbol=echo.symbol,
                    timeframe=echo.timeframe,
                    data=views.data_for(echo.view),
                    timestamp=timestamp,
                    restarted=restarted,
                )
                self._publisher.publish(update, group)
            views.done()
        if stream.waiters:
            copy = plain_copy(data)
            for waiter in stream.waiters:
                if not waiter.done():
                    waiter.set_result(copy)

    def on_error(self, message: str, error: BaseException) -> None:
        """A transient failure: the loop retries; subscribers get an ``error`` event and
        (once per outage) ``status recovering``."""
        log_stream("stream_retrying", self._stream, error)
        self._count_restart(error)
        self.fail(message, error)
        if self._stream.state != RECOVERING:
            self._status(RECOVERING, message)

    def on_stale(self, message: str, error: BaseException) -> None:
        """The watchdog found the upstream silent: the usual ``error`` each time; ``status
        stale`` then ``status recovering`` once per outage (a stream that stays silent is
        restarted every watchdog period, but its subscribers are told only when it changes:
        stale once, recovering once, live on the first update after)."""
        log_stream("stream_retrying", self._stream, error)
        self._count_restart(error)
        first = self._stream.state == LIVE
        if first:
            self._status(STALE, message)
        self.fail(message, error)
        if first:
            self._status(RECOVERING, "Restarting the stream")

    def _count_restart(self, error: BaseException) -> None:
        if self._metrics is not None:
            data_type = self._stream.key.data_type
            self._metrics.stream_restarted(data_type)
            if isinstance(error, SilentStream):
                self._metrics.watchdog_fired(data_type)

    def _status(self, state: StreamState, reason: str) -> None:
        stream = self._stream
        stream.state = state
        stream.status_reason = reason
        for _echo, group in stream.targets:
            self._publisher.publish_status(state, reason, group)

    def on_end(self, message: str, error: BaseException) -> None:
        """A permanent failure: everyone is told once and the stream is forgotten."""
        log_stream("stream_ended", self._stream, error)
        self.end(message, error)

    def fail(self, message: str, error: BaseException) -> None:
        stream = self._stream
        for _echo, group in stream.targets:
            self._publisher.publish_error(message, group)
        # A waiter is told the specific cause; an error we do not classify is the upstream's.
        failure = error if isinstance(error, DomainError) else StreamInterrupted(message)
        for waiter in stream.waiters:
            if not waiter.done():
                waiter.set_exception(failure)

    def end(self, message: str, error: BaseException, *, quiet: bool = False) -> None:
        stream = self._stream
        stream.closed = True
        stream.end_message = message
        stream.end_error = error
        if not quiet:
            self.fail(message, error)
        gone = stream.clear_subscribers()
        for subscriber in gone:
            self._publisher.discard(subscriber)
        self._on_closed(stream, gone)


class Views:
    """What each view of one upstream update is, computed once per update (issue 13).

    ``full`` without depth: the library's data as is; ``full`` with depth: the book cut once
    per depth; ``delta``: one ``BookFrame`` per depth from the stream's tracker of that depth.
    """

    __slots__ = ("_cuts", "_data", "_frames", "_restarted", "_stream")

    def __init__(self, stream: Stream, data: Any, restarted: bool) -> None:
        self._stream = stream
        self._data = data
        self._restarted = restarted
        self._cuts: dict[int, Any] = {}
        self._frames: dict[int | None, BookFrame] = {}

    def data_for(self, view: View) -> Any:
        if view is FULL or self._stream.key.data_type != "orderbook":
            return self._data
        if view.delta:
            frame = self._frames.get(view.depth)
            if frame is None:
                tracker = self._stream.books.get(view.depth)
                if tracker is None:
                    tracker = self._stream.books[view.depth] = BookTracker(view.depth)
                frame = self._frames[view.depth] = tracker.advance(self._data, self._restarted)
            return frame
        if view.depth is None:
            return self._data
        cut = self._cuts.get(view.depth)
        if cut is None:
            cut = self._cuts[view.depth] = cut_book(self._data, view.depth)
        return cut

    def done(self) -> None:
        """Forget trackers of depths no delta subscriber uses any more (bounded memory)."""
        books = self._stream.books
        if len(books) != len(self._frames):
            self._stream.books = {depth: books[depth] for depth in self._frames if depth in books}


def log_stream(event: str, stream: Stream, error: BaseException | None = None) -> None:
    """Log a stream's life event; the instance key holds a keyed hash, never credentials."""
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


def plain_copy(value: Any, depth: int = 0) -> Any:
    """A copy made of plain dicts and lists, safe from later in-place changes upstream."""
    if depth > 32:
        return value
    if isinstance(value, Mapping):
        return {k: plain_copy(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(v, depth + 1) for v in value]
    return value
