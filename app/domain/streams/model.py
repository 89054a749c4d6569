"""The nouns of live streams: which stream, who listens, what is delivered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from app.domain.config import ExchangeConfig
from app.domain.errors import BadInput


@dataclass(frozen=True, slots=True)
class StreamKey:
    """One upstream stream. ``instance`` is the instance cache key (credentials hashed)."""

    instance: str
    data_type: str
    symbol: str
    timeframe: str | None


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A validated request for a stream (what a subscribe or a REST watch asks for)."""

    config: ExchangeConfig
    data_type: str
    symbol: str
    timeframe: str | None = None

    @property
    def exchange_id(self) -> str:
        return self.config.exchange_id


@dataclass(frozen=True, slots=True)
class View:
    """How one subscription wants its updates (opt-in subscribe fields, issue 13).

    ``format``: ``full`` (the exchange library's book) or ``delta`` (orderbook: a snapshot,
    then only changed levels, with ``seq``/``prevSeq``); ``depth``: orderbook levels per side
    (None: all); ``history``: ohlcv closed candles sent first (None: none).
    """

    format: str = "full"
    depth: int | None = None
    history: int | None = None

    @property
    def delta(self) -> bool:
        return self.format == "delta"


FULL = View()


@dataclass(frozen=True, slots=True)
class Echo:
    """The request's fields as the client sent them, echoed in its ``data`` events.

    The terminal matches its events on the symbol string it sent, and the original server
    echoes ``timeframe`` for every data type (contract section 3), so both travel with the
    subscription rather than being rebuilt from the shared stream.
    """

    symbol: str
    timeframe: str | None = None
    view: View = FULL
    """Not echoed: carried here so that subscribers are grouped by what they receive."""


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One subscription of one connection; ``subscription_id`` is what the client sees.

    Two subscribers are equal when their ids are; ``echo`` (None: the stream's own symbol and
    timeframe) is carried along but does not take part in equality.
    """

    connection_id: str
    subscription_id: str
    echo: Echo | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StreamUpdate:
    """One upstream result, handed once to the publisher for all of a stream's subscribers."""

    exchange_id: str
    data_type: str
    symbol: str
    timeframe: str | None
    data: Any
    timestamp: int
    """Server time in ms when the update left the upstream loop."""
    restarted: bool = False
    """True for the first update after the upstream was (re)started: a full snapshot."""
    cached: bool = False
    """True when a joining subscriber gets the stream's latest update at once (not live)."""


StreamState = Literal["live", "stale", "recovering"]
"""What a ``status`` event tells: ``stale`` the watchdog found the upstream silent,
``recovering`` it is being restarted, ``live`` updates flow again."""
LIVE: Final[StreamState] = "live"
STALE: Final[StreamState] = "stale"
RECOVERING: Final[StreamState] = "recovering"


class SubscriptionRejected(BadInput):
    """A subscribe that can never succeed as sent; ``details`` is the client-facing text."""
