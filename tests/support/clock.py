"""ManualWallClock: the Clock port (``time()`` seconds, ``sleep``) on simulated time."""

from __future__ import annotations

import asyncio


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
