"""Order book views for subscribers: top-N cuts and deltas with sequence numbers (issue 13).

A ``BookTracker`` exists per (stream, depth) that some delta subscriber uses. Each upstream
book becomes one ``BookFrame``: the top ``depth`` levels per side (the snapshot) and the
levels that changed since the previous frame of the same tracker (the delta; amount 0
removes a level). The frame is computed once per update and shared by every delta
subscriber of that depth; sequence numbers are per subscription, given by the publisher when
the frame is sent. Applying the deltas in order to a snapshot gives the snapshot of the
newest frame, which is exactly what a ``full`` subscriber at that depth receives. A frame is
a snapshot only when a delta would list more than ``depth`` levels on a side or be larger
than the snapshot (a moved book), so a client must accept a snapshot at any point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Level = list[Any]
"""``[price, amount]``."""


@dataclass(frozen=True, slots=True)
class BookFrame:
    """One book update as delta subscribers of one depth see it.

    ``delta_bids``/``delta_asks`` are None when there is no previous frame to differ from
    (first update, upstream restart, or a combination too large): then only a snapshot can
    be sent.
    """

    symbol: Any
    timestamp: Any
    bids: list[Level]
    asks: list[Level]
    delta_bids: list[Level] | None = None
    delta_asks: list[Level] | None = None

    @property
    def has_delta(self) -> bool:
        return self.delta_bids is not None and self.delta_asks is not None

    def snapshot_only(self) -> BookFrame:
        return BookFrame(self.symbol, self.timestamp, self.bids, self.asks)


def top(levels: Any, depth: int | None) -> list[Level]:
    """The best ``depth`` levels (all when None) as plain ``[price, amount]`` copies."""
    if not isinstance(levels, list):
        return []
    chosen = levels if depth is None else levels[:depth]
    return [[level[0], level[1]] for level in chosen if isinstance(level, list | tuple)]


def cut_book(book: Any, depth: int | None) -> Any:
    """A ``full`` subscriber's book at ``depth``: the same dict with both sides cut."""
    if depth is None or not isinstance(book, dict):
        return book
    return {**book, "bids": top(book.get("bids"), depth), "asks": top(book.get("asks"), depth)}


def diff(previous: dict[Any, Any], levels: list[Level]) -> list[Level]:
    """Levels that changed from ``previous`` (price -> amount) to ``levels``; gone ones as 0."""
    changed = [level for level in levels if previous.get(level[0]) != level[1]]
    if len(previous) > len(levels) - len(changed):
        present = {level[0] for level in levels}
        changed.extend([price, 0] for price in previous if price not in present)
    return changed


class BookTracker:
    """The previous frame of one (stream, depth): what the next delta is computed against."""

    __slots__ = ("_asks", "_bids", "depth", "last")

    def __init__(self, depth: int | None) -> None:
        self.depth = depth
        self.last: BookFrame | None = None
        self._bids: dict[Any, Any] = {}
        self._asks: dict[Any, Any] = {}

    def _fits(
        self,
        delta_bids: list[Level],
        delta_asks: list[Level],
        bids: list[Level],
        asks: list[Level],
    ) -> bool:
        return _bounded(delta_bids, delta_asks, self.depth, bids, asks)

    def advance(self, book: Any, restarted: bool) -> BookFrame:
        """The frame for a new upstream book (a snapshot only after a restart)."""
        if not isinstance(book, dict):
            book = {}
        bids = top(book.get("bids"), self.depth)
        asks = top(book.get("asks"), self.depth)
        frame = BookFrame(book.get("symbol"), book.get("timestamp"), bids, asks)
        if self.last is not None and not restarted:
            delta_bids, delta_asks = diff(self._bids, bids), diff(self._asks, asks)
            if self._fits(delta_bids, delta_asks, bids, asks):
                frame = BookFrame(frame.symbol, frame.timestamp, bids, asks, delta_bids, delta_asks)
        self.last = frame
        self._bids = {level[0]: level[1] for level in bids}
        self._asks = {level[0]: level[1] for level in asks}
        return frame


def _bounded(
    delta_bids: list[Level],
    delta_asks: list[Level],
    depth: int | None,
    bids: list[Level],
    asks: list[Level],
) -> bool:
    """A delta is worth sending if no side lists more than ``depth`` levels (so every event
    of a depth-N subscription holds at most N levels per side) and it is not larger than
    the snapshot; otherwise the frame is a snapshot."""
    if depth is not None and (len(delta_bids) > depth or len(delta_asks) > depth):
        return False
    return len(delta_bids) + len(delta_asks) <= len(bids) + len(asks)


def merge_frames(older: BookFrame, newer: BookFrame, depth: int | None = None) -> BookFrame:
    """One frame equal to sending ``older`` then ``newer`` (for a subscriber that fell behind).

    The deltas combine level by level, the later amount winning; when either has no delta,
    or the combination is not ``_bounded`` (more than ``depth`` levels a side, or larger than
    the snapshot), the result is a snapshot only (a parked combination never outgrows a book).
    """
    if not (older.has_delta and newer.has_delta):
        return newer.snapshot_only()
    bids = _combine(older.delta_bids or [], newer.delta_bids or [])
    asks = _combine(older.delta_asks or [], newer.delta_asks or [])
    if not _bounded(bids, asks, depth, newer.bids, newer.asks):
        return newer.snapshot_only()
    return BookFrame(newer.symbol, newer.timestamp, newer.bids, newer.asks, bids, asks)


def _combine(first: list[Level], second: list[Level]) -> list[Level]:
    merged = {level[0]: level[1] for level in first}
    merged.update((level[0], level[1]) for level in second)
    return [[price, amount] for price, amount in merged.items()]
