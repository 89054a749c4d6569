"""Binance's per-IP request weight accounting, as the emulator applies it.

Rules (developers.binance.com "Limits"): weight is counted per IP and per API family in fixed
UTC-minute windows; every answer carries ``X-MBX-USED-WEIGHT-1M``; over the limit the answer
is 429 ``{"code": -1003}`` with ``Retry-After``; an IP that calls again while that Retry-After
runs is banned: 418 with ``Retry-After`` (2 minutes for a first offence here).
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SPOT_WEIGHTS: Mapping[str, int] = {
    "exchangeInfo": 20,
    "ticker/24hr": 2,
    "trades": 25,
    "aggTrades": 4,
    "klines": 2,
    "account": 20,
    "ping": 1,
    "time": 1,
}
FUTURES_WEIGHTS: Mapping[str, int] = {
    "exchangeInfo": 1,
    "ticker/24hr": 1,
    "trades": 5,
    "aggTrades": 20,
    "klines": 1,
    "account": 5,
    "ping": 1,
    "time": 1,
}
SPOT_DEPTH = ((100, 5), (500, 25), (1000, 50), (5000, 250))
FUTURES_DEPTH = ((50, 2), (100, 5), (500, 10), (1000, 20))


def request_weight(section: str, endpoint: str, query: Mapping[str, str]) -> int:
    """Weight of one request: ``section`` is ``api``/``fapi``/``dapi``, ``endpoint`` e.g. ``depth``."""
    spot = section not in ("fapi", "dapi")
    if endpoint == "depth":
        limit = int(query.get("limit") or 100)
        for top, weight in SPOT_DEPTH if spot else FUTURES_DEPTH:
            if limit <= top:
                return weight
        return (SPOT_DEPTH if spot else FUTURES_DEPTH)[-1][1]
    if endpoint == "ticker/24hr" and "symbol" not in query:
        return 80 if spot else 40
    return (SPOT_WEIGHTS if spot else FUTURES_WEIGHTS).get(endpoint, 1)


@dataclass
class Verdict:
    """``status`` 200 (serve it), 429 or 418; ``used`` is the IP's weight in this minute."""

    status: int
    used: int
    retry_after: int = 0


class IpWeights:
    """Per (IP, family) weight windows and per-IP 429 / 418 state.

    ``limit`` None counts and reports weight but never refuses.
    """

    def __init__(
        self,
        limit: int | None = None,
        *,
        ban_seconds: int = 120,
        clock: Callable[[], float] = time.time,
        window_seconds: float = 60.0,
    ) -> None:
        self.limit = limit
        self.ban_seconds = ban_seconds
        self.clock = clock
        self.window_seconds = window_seconds
        self._used: dict[tuple[str, str], tuple[float, int]] = {}
        self._retry_until: dict[str, float] = {}
        self._banned_until: dict[str, float] = {}
        self.statuses: collections.Counter[int] = collections.Counter()

    def used(self, ip: str, section: str) -> int:
        start, used = self._used.get((ip, section), (0.0, 0))
        return used if start == self._window_start() else 0

    def _window_start(self) -> float:
        return math.floor(self.clock() / self.window_seconds) * self.window_seconds

    def charge(self, ip: str, section: str, weight: int) -> Verdict:
        now = self.clock()
        banned = self._banned_until.get(ip, 0.0)
        if now < banned:
            self.statuses[418] += 1
            return Verdict(418, self.used(ip, section), math.ceil(banned - now))
        if now < self._retry_until.get(ip, 0.0):
            # Called again while a 429's Retry-After runs: binance bans the IP.
            self._banned_until[ip] = now + self.ban_seconds
            self.statuses[418] += 1
            return Verdict(418, self.used(ip, section), self.ban_seconds)
        start = self._window_start()
        used = self.used(ip, section) + weight
        self._used[(ip, section)] = (start, used)
        if self.limit is not None and used > self.limit:
            retry = max(1, math.ceil(start + self.window_seconds - now))
            self._retry_until[ip] = now + retry
            self.statuses[429] += 1
            return Verdict(429, used, retry)
        self.statuses[200] += 1
        return Verdict(200, used)

    def reset(self) -> None:
        self._used.clear()
        self._retry_until.clear()
        self._banned_until.clear()
        self.statuses.clear()
