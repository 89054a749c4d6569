"""Stream: the live state of one upstream stream (who listens, who waits, its latest update)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from app.domain.streams.book import BookTracker
from app.domain.streams.model import (
    LIVE,
    Echo,
    StreamKey,
    StreamRequest,
    StreamState,
    Subscriber,
)

RECENT_CANDLES = 8

Targets = tuple[tuple[Echo, tuple[Subscriber, ...]], ...]
"""Subscribers grouped by what their events echo: one encoded update per group."""


@dataclass(eq=False)
class Stream:
    """One upstream stream, shared by its subscribers, REST waiters and starting joiners.

    ``pending`` counts callers that are waiting for the stream to become ready; the loop
    stops when there are no subscribers, no waiters and nobody pending (``unused``).
    """

    key: StreamKey
    request: StreamRequest
    ready: asyncio.Future[None]
    task: asyncio.Task[None] | None = None
    subscribers: dict[Subscriber, None] = field(default_factory=dict)
    waiters: set[asyncio.Future[Any]] = field(default_factory=set)
    pending: int = 0
    closed: bool = False
    end_message: str | None = None
    end_error: BaseException | None = None
    """The permanent error that ended the stream, answered to readers who join it late."""
    latest: Any = None
    """The last update delivered (as the exchange library left it; copy before keeping)."""
    latest_at: float | None = None
    latest_lag: float | None = None
    """Exchange timestamp to server (s) of ``latest``, when the data carries one."""
    """Monotonic time (s) of ``latest``; None before the first update."""
    latest_timestamp: int = 0
    """Server time (ms) stamped on ``latest`` when it was delivered."""
    state: StreamState = LIVE
    """The last state told to subscribers (``status`` events on change)."""
    status_reason: str = ""
    ungreeted: set[Subscriber] = field(default_factory=set)
    """Joined, not yet sent anything: they get ``latest`` (cached) right after ``subscribed``."""
    held: set[Subscriber] = field(default_factory=set)
    """Joined with ``history``: no live update until their history (the first event) is sent."""
    books: dict[int | None, BookTracker] = field(default_factory=dict)
    """Order book trackers by depth, one per depth some delta subscriber uses."""
    candles: dict[Any, list[Any]] = field(default_factory=dict)
    """ohlcv: the most recent live candles by open time (at most ``RECENT_CANDLES``)."""
    _targets: Targets | None = None

    @property
    def own_echo(self) -> Echo:
        return Echo(self.key.symbol, self.key.timeframe)

    @property
    def targets(self) -> Targets:
        """Subscribers grouped by echo, rebuilt only after a join or a leave."""
        if self._targets is None:
            groups: dict[Echo, list[Subscriber]] = {}
            own = self.own_echo
            for subscriber in self.subscribers:
                if subscriber in self.held:
                    continue
                groups.setdefault(subscriber.echo or own, []).append(subscriber)
            self._targets = tuple((echo, tuple(group)) for echo, group in groups.items())
        return self._targets

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber] = None
        self.ungreeted.add(subscriber)
        if subscriber.echo is not None and subscriber.echo.view.history:
            self.held.add(subscriber)
        self._targets = None

    def release_held(self, subscriber: Subscriber) -> None:
        """A held subscriber has had its first event: live updates follow."""
        self.held.discard(subscriber)
        self._targets = None

    def remember_candles(self, rows: Any) -> None:
        """Keep the newest live candles (by open time) for history merges and gap fills."""
        if not isinstance(rows, list):
            return
        for row in rows:
            if isinstance(row, list) and row:
                self.candles[row[0]] = list(row)
        if len(self.candles) > RECENT_CANDLES:
            for old in sorted(self.candles)[: len(self.candles) - RECENT_CANDLES]:
                del self.candles[old]

    def remove(self, subscriber: Subscriber) -> bool:
        self.ungreeted.discard(subscriber)
        self.held.discard(subscriber)
        if self.subscribers.pop(subscriber, 0) is None:
            self._targets = None
            return True
        return False

    def clear_subscribers(self) -> list[Subscriber]:
        gone = list(self.subscribers)
        self.subscribers.clear()
        self.ungreeted.clear()
        self.held.clear()
        self._targets = None
        return gone

    @property
    def unused(self) -> bool:
        return not self.subscribers and not self.waiters and self.pending == 0
