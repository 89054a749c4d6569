"""UTC timestamps as ISO 8601 text, the date and time of day formatted once per second.

Request lines and /health stamp every request; ``datetime.now(UTC).isoformat()`` costs
~1-2 us where reusing the second's text and adding the fraction costs ~0.3 (ADRs 0120,
0180).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class IsoStamp:
    """A Unix time as ISO 8601 UTC text with ``digits`` of the second's fraction, truncated.

    ``IsoStamp(6, zero_fraction=False)``: structlog's ``TimeStamper(fmt="iso", utc=True)``,
    ``2026-11-30T23:50:10.123456Z``, no fraction when the microseconds are 0 (as
    ``datetime.isoformat``). ``IsoStamp(3)``: JavaScript's ``toISOString()``,
    ``2026-12-01T00:22:21.818Z``, as the original server's /health answers. The date and
    time of day are formatted again only when the second changes (a step back included).
    """

    __slots__ = ("_digits", "_per_second", "_prefix", "_second", "_unit_ns", "_zero_fraction")

    def __init__(self, digits: int, *, zero_fraction: bool = True) -> None:
        self._per_second = 10**digits
        self._unit_ns = 10 ** (9 - digits)
        self._digits = digits
        self._zero_fraction = zero_fraction
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        return self.at(time.time_ns())

    def at(self, stamp_ns: int) -> str:
        """The text of ``stamp_ns`` (ns since the epoch)."""
        second, fraction = divmod(stamp_ns // self._unit_ns, self._per_second)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        if fraction or self._zero_fraction:
            return "%s.%0*dZ" % (self._prefix, self._digits, fraction)  # noqa: UP031 - fastest
        return self._prefix + "Z"
