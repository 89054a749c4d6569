"""Live market data streams: one upstream loop per stream, fanned out to every subscriber."""

from app.domain.streams.backoff import Backoff
from app.domain.streams.hub import StreamHub
from app.domain.streams.model import (
    StreamKey,
    StreamRequest,
    StreamUpdate,
    Subscriber,
    SubscriptionRejected,
)
from app.domain.streams.requests import parse_subscription

__all__ = [
    "Backoff",
    "StreamHub",
    "StreamKey",
    "StreamRequest",
    "StreamUpdate",
    "Subscriber",
    "SubscriptionRejected",
    "parse_subscription",
]
