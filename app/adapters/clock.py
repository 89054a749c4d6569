"""SystemClock: the Clock port on the real wall clock."""

from __future__ import annotations

import asyncio
import time


class SystemClock:
    """``time.time()`` and a real ``asyncio.sleep``."""

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
