"""StreamPacer: paces every simulated stream on a shared tick grid of the injected clock.

Ticks fall at ``ceil(k * 1000 / tick_hz)`` ms of clock time. A watch call waits for the
first tick after *now*, so a consumer calling again as soon as it has an update gets the
next one, and concurrent watchers of one stream get the very same update (computed once).
No background task exists: each watcher sleeps in its own call, and ``un_watch``/``close``
wake the sleepers with an error through a per-stream stop future.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from app.domain.errors import ExchangeUnreachable

from .clock import Clock

StreamKey = tuple[str, str, str | None]
Producer = Callable[[int, int], Any]
"""``produce(previous_tick_ms, tick_ms)``: the update for a tick, or None to skip the tick."""

MAX_SKIPPED_TICKS = 10_000
MAX_LATE_WAKEUPS = 10


class StreamPacer:
    def __init__(self, clock: Clock, tick_hz: float) -> None:
        self._clock = clock
        self._hz = Fraction(tick_hz).limit_denominator(1000)
        self._stops: dict[StreamKey, asyncio.Future[tuple[str, str]]] = {}
        self._last: dict[tuple[StreamKey, Any], tuple[int, Any]] = {}
        self._closed = False

    def tick_ms(self, k: int) -> int:
        return math.ceil(k * 1000 / self._hz)

    def _next_tick(self, now: int) -> int:
        return math.floor(now * self._hz / 1000) + 1

    async def next(self, key: StreamKey, produce: Producer, variant: Any = None) -> Any:
        """Wait for the next tick of a stream that has an update, and return that update."""
        if self._closed:
            raise ExchangeUnreachable("sim connection is closed")
        stop = self._stops.get(key)
        if stop is None or stop.done():
            stop = self._stops[key] = asyncio.get_running_loop().create_future()
        k = self._next_tick(self._clock.now_ms())
        for _ in range(MAX_SKIPPED_TICKS):
            tick = self.tick_ms(k)
            await self._wait_until(tick, stop)
            cached = self._last.get((key, variant))
            if cached is not None and cached[0] == k:
                return cached[1]
            update = produce(self.tick_ms(k - 1), tick)
            if update is not None:
                self._last[(key, variant)] = (k, update)
                return update
            k += 1
        raise ExchangeUnreachable(f"no {key[0]} update within {MAX_SKIPPED_TICKS} ticks")

    async def _wait_until(self, tick: int, stop: asyncio.Future[tuple[str, str]]) -> None:
        for _ in range(MAX_LATE_WAKEUPS):  # a timer may fire a hair early: sleep the rest
            delay = tick - self._clock.now_ms()
            if delay <= 0:
                return
            sleeper = asyncio.ensure_future(self._clock.sleep(delay / 1000))
            waiters: set[asyncio.Future[Any]] = {sleeper, stop}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not sleeper.done():
                    sleeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sleeper
            if stop.done():
                details, error_type = stop.result()
                raise ExchangeUnreachable(details, error_type=error_type)

    def stop(self, key: StreamKey) -> None:
        """End one stream: its pending watchers fail, a later watch starts it afresh."""
        stop = self._stops.pop(key, None)
        if stop is not None and not stop.done():
            details = f"sim {key[0]} stream for {key[1] or 'account'} was unsubscribed"
            stop.set_result((details, "UnsubscribeError"))
        for cached in [c for c in self._last if c[0] == key]:
            del self._last[cached]

    def close(self) -> None:
        self._closed = True
        for stop in self._stops.values():
            if not stop.done():
                stop.set_result(("sim connection is closed", "ExchangeClosedByUser"))
        self._stops.clear()
        self._last.clear()

    @property
    def active(self) -> int:
        """Streams that currently have a stop future (started and not yet un-watched)."""
        return len(self._stops)
