"""GET /health: liveness, open without a token."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import get

from app import __version__
from app.entrypoints.http.schemas import HealthResponse


@get("/health", tags=["health"], summary="Liveness check (no token needed)")
async def health() -> HealthResponse:
    # "2026-12-01T00:22:21.818Z": milliseconds truncated, as the original's toISOString().
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    return HealthResponse(status="ok", timestamp=stamp, version=__version__)
