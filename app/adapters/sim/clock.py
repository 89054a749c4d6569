"""Clocks for the simulator: the wall clock in production, a manual one for deterministic tests."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Where the simulator reads the time and how it waits."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time; waiting is a real ``asyncio.sleep``."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """Simulated time that only moves when a test advances it or when someone sleeps.

    ``sleep`` jumps the clock forward to the sleeper's wake-up time (never backwards), so
    concurrent sleepers that target the same instant wake at that instant and a stream of
    N updates takes exactly N periods of simulated time, instantly.
    """

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = float(start_ms)

    def now_ms(self) -> int:
        return int(self._now_ms)

    def advance(self, seconds: float) -> None:
        self._now_ms += seconds * 1000.0

    def set(self, now_ms: int) -> None:
        self._now_ms = float(now_ms)

    async def sleep(self, seconds: float) -> None:
        target = self._now_ms + max(0.0, seconds) * 1000.0
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is
        self._now_ms = max(self._now_ms, target)
