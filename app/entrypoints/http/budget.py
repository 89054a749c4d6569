"""GET /api/budget: each exchange's rate budget and where reads were answered from (issue 9)."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency

from app.domain.budget.reads import ReadBudget
from app.entrypoints.http.openapi import error_responses
from app.ports.budget import RateBudget


@get(
    "/api/budget",
    tags=["introspection"],
    summary="Rate budget per exchange and API family; reads by source",
    description=(
        "Per exchange: `reads` answered from the `exchange`, `coalesced` with an identical "
        "call, from the `cache` or from a `stream`; `requests` sent; time and count of stops "
        "after a 429/418 (`stoppedSecondsTotal`, `stops`, `stoppedForSeconds` still to run); "
        "per API family (binance: api, fapi, dapi, sapi) the weight per minute, used and left "
        "in the current minute, and requests that waited for room or were refused. "
        "In a cluster (`shared`: true) the weights, requests, waits, refusals and stops are "
        "the whole cluster's (`nodesSharing`: nodes that sent requests in the last 2 minutes); "
        "`reads` and `inFlight` are always this node's. "
        "No credential, no instance key."
    ),
    responses=error_responses(),
)
async def budget_stats(
    rate_budget: NamedDependency[RateBudget], read_budget: NamedDependency[ReadBudget]
) -> dict[str, Any]:
    await rate_budget.refresh()
    limits = rate_budget.snapshot()
    reads = read_budget.served()
    exchanges: dict[str, Any] = {}
    for exchange_id in sorted(set(limits) | set(reads)):
        limit = limits.get(exchange_id, {})
        families = limit.get("families", {})
        exchanges[exchange_id] = {
            "reads": reads.get(exchange_id, {}),
            "requests": sum(int(f.get("requests", 0)) for f in families.values()),
            "stoppedForSeconds": limit.get("stoppedForSeconds", 0.0),
            "stoppedSecondsTotal": limit.get("stoppedSecondsTotal", 0.0),
            "stops": limit.get("stops", {}),
            "shared": limit.get("shared", False),
            "nodesSharing": limit.get("nodesSharing", 1),
            "families": families,
        }
    return {
        "success": True,
        "data": {
            "enabled": read_budget.enabled,
            "inFlight": read_budget.in_flight(),
            "exchanges": exchanges,
        },
    }
