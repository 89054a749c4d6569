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
    summary="Live streams: upstream loops, subscriptions, connections",
    description="Counts only: no symbol lists per client, no instance keys, no credentials.",
    responses=error_responses(),
)
async def stream_stats(stream_service: NamedDependency[StreamService]) -> dict[str, Any]:
    stats = stream_service.stats()
    return {"success": True, "data": {**stats, "loopsStarted": stream_service.loops_started}}
