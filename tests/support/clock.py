"""Test clocks for the Clock port (``time()`` seconds, ``sleep``): simulated, or shifted wall time."""

from __future__ import annotations

import asyncio
import math
import time


class ManualWallClock:
    """Time moves only when a test advances it, or when someone sleeps (it jumps to the
    sleeper's wake-up time), so waits of a minute take no real time."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        target = self.now + max(0.0, seconds)
        await asyncio.sleep(0)
        self.now = max(self.now, target)


class MinuteStartClock:
    """Wall time shifted so that it reads ``into`` seconds past a UTC minute when built.

    Binance's weight windows (and our limiter's) are fixed UTC minutes. A test that counts
    weight in one window must not cross a minute edge mid-way, wherever in the minute it
    happens to start: give this clock to the server and the emulator alike and the test has
    ``window_s - into`` seconds of one window. Time runs and sleeps are real.
    """

    def __init__(self, into: float = 1.0, window_s: float = 60.0) -> None:
        now = time.time()
        self.offset = math.floor(now / window_s) * window_s + into - now

    def time(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
