"""The nouns of the read budget: where an answer came from, and the error of an empty budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.domain.errors import RateLimited

DataSource = Literal["exchange", "coalesced", "cache", "stream"]
"""Where a read's answer came from (the ``X-Data-Source`` header):

- ``exchange``: this request's own exchange call;
- ``coalesced``: an identical call already in flight, shared;
- ``cache``: an earlier answer still within the freshness window;
- ``stream``: the latest update of a live stream of the same data.
"""

DATA_SOURCES: tuple[DataSource, ...] = ("exchange", "coalesced", "cache", "stream")


@dataclass(slots=True)
class ReadReceipt:
    """Filled in by a read: where its answer came from and how old it was, in ms.

    The caller (an HTTP handler) creates one, passes it to the read, and turns it into the
    ``X-Data-Source`` / ``X-Data-Age-Ms`` headers; the body stays the exchange's structure.
    """

    source: DataSource = "exchange"
    age_ms: int = 0


class BudgetExhausted(RateLimited):
    """Our own refusal: the exchange's rate budget has no room, or the exchange stopped us.

    ``retry_after_s`` (seconds, >= 1, rounded up) is what the client gets as ``Retry-After``.
    Raised before any request is sent, so the exchange never sees it.
    """

    def __init__(self, details: str, *, retry_after_s: float) -> None:
        super().__init__(details, error_type="RateLimitExceeded")
        self.retry_after_s = retry_after_s

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up, at least 1 (RFC 9110 ``Retry-After: delay-seconds``)."""
        whole = int(self.retry_after_s)
        return str(max(1, whole + (1 if self.retry_after_s > whole else 0)))
