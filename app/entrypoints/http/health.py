"""GET /health: liveness, open without a token."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import get

from app import __version__
from app.entrypoints.http.schemas import HealthResponse


@get("/health", tags=["health"], summary="Liveness check (no token needed)")
async def health() -> HealthResponse:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return HealthResponse(status="ok", timestamp=stamp, version=__version__)
