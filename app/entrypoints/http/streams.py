"""GET /api/streams: what the stream hub is doing (streams, upstream loops, subscriptions)."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency

from app.domain.streams import StreamService
from app.entrypoints.http.openapi import error_responses


@get(
    "/api/streams",
    tags=["introspection"],
    summary="Live streams: upstream loops, subscriptions, connections, ownership",
    description=(
        "Counts, plus one entry per live stream on this node (`live`): its key (the instance "
        "key hashes any credential with the cluster's secret: no credential appears), local "
        "subscribers and REST waiters, and `owner` (this node runs the stream's upstream "
        "loop: always true in a single process). `node`: this node's name in a cluster "
        "(null in a single process). No symbol lists per client."
    ),
    responses=error_responses(),
)
async def stream_stats(stream_service: NamedDependency[StreamService]) -> dict[str, Any]:
    stats = stream_service.stats()
    live = [
        {
            "key": s.key,
            "exchangeId": s.exchange_id,
            "dataType": s.data_type,
            "symbol": s.symbol,
            "timeframe": s.timeframe,
            "subscribers": s.subscribers,
            "waiters": s.waiters,
            "owner": s.owner,
        }
        for s in stream_service.live()
    ]
    return {
        "success": True,
        "data": {
            **stats,
            "loopsStarted": stream_service.loops_started,
            "node": stream_service.node,
            "live": live,
        },
    }
