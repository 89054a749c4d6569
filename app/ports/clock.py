"""Clock: where services read the time and how they wait (a manual clock in tests)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Wall-clock time in seconds since the Unix epoch, and a sleep on the same clock."""

    def time(self) -> float:
        """Seconds since the Unix epoch (float). Rate windows align to it (binance: UTC minutes)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (0 or less: just yield)."""
        ...
