"""InProcessQuotaStore: request quotas kept in this process (GCRA, one float per token)."""

from __future__ import annotations

import time
from collections.abc import Callable

MINUTE_SECONDS = 60.0


class InProcessQuotaStore:
    """The QuotaStore port in memory, with the generic cell rate algorithm (GCRA).

    GCRA is the token bucket written as one "theoretical arrival time" per key: a token with
    ``per_minute = N`` may send N requests at once (a burst of one minute's worth), then one
    every 60/N seconds; a refused request tells exactly when the next will be allowed
    (RFC 6585's Retry-After). Source: ITU-T I.371 (GCRA); the same algorithm as redis-cell.

    Args:
        clock: monotonic seconds (injected by tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def take_request(self, name: str, per_minute: int) -> float:
        """0.0 when allowed (one request spent), else the seconds to wait."""
        now = self._clock()
        interval = MINUTE_SECONDS / per_minute
        tat = max(self._tat.get(name, now), now)
        allowed_at = tat - (MINUTE_SECONDS - interval)  # the burst the bucket tolerates
        if allowed_at > now:
            return allowed_at - now
        self._tat[name] = tat + interval
        return 0.0

    async def forget(self, name: str) -> None:
        self._tat.pop(name, None)
