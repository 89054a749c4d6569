"""Live market data streams: one upstream loop per stream, fanned out to every subscriber.

``StreamService`` holds the use cases (subscribe, unsubscribe, disconnect, REST watch);
``SubscriptionRegistry`` each connection's subscriptions; ``StreamHub`` the upstream loops;
``StreamEvents`` delivers what a loop reports.
"""

from app.domain.streams.backoff import Backoff
from app.domain.streams.hub import LatestUpdate, StreamHub, StreamSnapshot
from app.domain.streams.model import (
    Echo,
    StreamKey,
    StreamRequest,
    StreamUpdate,
    Subscriber,
    SubscriptionRejected,
)
from app.domain.streams.requests import parse_subscription
from app.domain.streams.service import StreamService, Subscription
from app.domain.streams.subscriptions import SubscriptionRegistry

__all__ = [
    "Backoff",
    "Echo",
    "LatestUpdate",
    "StreamHub",
    "StreamKey",
    "StreamRequest",
    "StreamService",
    "StreamSnapshot",
    "StreamUpdate",
    "Subscriber",
    "Subscription",
    "SubscriptionRegistry",
    "SubscriptionRejected",
    "parse_subscription",
]
