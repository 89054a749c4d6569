"""HubStreamSnapshots: the StreamSnapshots port over the stream service's latest updates."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from app.domain.config import Credentials, ExchangeConfig
from app.domain.streams.hub import LatestUpdate
from app.domain.streams.model import StreamRequest
from app.ports.budget import StreamSnapshot
from app.ports.clock import Clock


class LatestSource(Protocol):
    """What we need of the StreamService: ``latest(request)``."""

    def latest(self, request: StreamRequest) -> LatestUpdate | None: ...


class HubStreamSnapshots:
    """Looks up live streams a REST read may be answered from.

    Streams run on ``ccxtType: "pro"`` instances, keyed by instance (credentials hashed), so
    two candidates are tried: the public stream of that exchange, market type and sandbox,
    then the reader's own (its credentials). The update is handed over as the exchange
    library left it: the read's adapter (``app.domain.budget.streamed``) copies only what it
    answers, at once (a 1,000-level book is cut to ``limit`` before anything is copied).
    """

    def __init__(self, streams: LatestSource, clock: Clock, *, enabled: bool = True) -> None:
        self._streams = streams
        self._clock = clock
        self._enabled = enabled

    def latest(self, config: ExchangeConfig, data_type: str, symbol: str) -> StreamSnapshot | None:
        if not self._enabled:
            return None
        public = replace(config, ccxt_type="pro", credentials=Credentials())
        candidates = [public]
        if config.has_credentials:
            candidates.append(replace(config, ccxt_type="pro"))
        best: LatestUpdate | None = None
        for candidate in candidates:
            update = self._streams.latest(StreamRequest(candidate, data_type, symbol))
            if update is not None and (best is None or update.age_seconds < best.age_seconds):
                best = update
        if best is None:
            return None
        return StreamSnapshot(best.data, self._clock.time() - best.age_seconds)
