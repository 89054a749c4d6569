"""Operator endpoints: GET /ready (open), GET /metrics (token unless metrics_public)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec

from app.domain.readiness import Readiness

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"
"""Prometheus' text format 0.0.4; Litestar appends the "; charset=utf-8" of text/* types."""


@runtime_checkable
class MetricsExposition(Protocol):
    """What GET /metrics needs from the metrics adapter."""

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        ...


@get(
    "/ready",
    tags=["health"],
    summary="Readiness: 200 once started and able to serve, 503 with the reasons otherwise",
    include_in_schema=True,
    security=[{}],  # open, as /health: load balancers probe it without a token
    responses={
        503: ResponseSpec(
            data_container=dict[str, Any],
            description="Not ready: `{error, details, errorType: NotReady, checks}`, "
            "`Retry-After: 1`",
        )
    },
)
async def ready(readiness: NamedDependency[Readiness]) -> Response[dict[str, Any]]:
    results = await readiness.evaluate()
    checks = [{"name": r.name, "ok": r.ok, "reason": r.reason} for r in results]
    failed = [f"{r.name}: {r.reason}" for r in results if not r.ok]
    if failed:
        body = {
            "error": "Not ready",
            "details": "; ".join(failed),
            "errorType": "NotReady",
            "checks": checks,
        }
        return Response(body, status_code=503, headers={"Retry-After": "1"})
    return Response({"status": "ready", "checks": checks}, status_code=200)


@get(
    "/metrics",
    tags=["health"],
    summary="Prometheus metrics (text format)",
    media_type=METRICS_CONTENT_TYPE,
)
async def metrics(metrics_exposition: NamedDependency[MetricsExposition]) -> Response[bytes]:
    return Response(metrics_exposition.exposition(), media_type=METRICS_CONTENT_TYPE)
