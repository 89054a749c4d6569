"""How long an upstream may stay silent before it is restarted, per data type."""

from __future__ import annotations

from collections.abc import Mapping

from app.domain.errors import StreamStalled

DEFAULT_WATCHDOG_SECONDS = 60.0


def watchdog_seconds(limits: Mapping[str, float], data_type: str) -> float | None:
    """The silence limit for a data type; None (no watchdog) for 0 or a negative value."""
    seconds = limits.get(data_type, DEFAULT_WATCHDOG_SECONDS)
    return seconds if seconds and seconds > 0 else None


class SilentStream(StreamStalled):
    """Raised inside the upstream loop when the watchdog fires (a REST watch answers 504)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"No data from the exchange for {seconds:g}s; restarting the stream",
            error_type=StreamStalled.__name__,
        )
        self.seconds = seconds
