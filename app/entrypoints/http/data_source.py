"""The X-Data-Source / X-Data-Age-Ms headers of fetch* answers (issue 9), and their docs."""

from __future__ import annotations

from typing import TypeVar

from litestar import Response
from litestar.datastructures import ResponseHeader

from app.domain.budget.model import ReadReceipt

B = TypeVar("B")

DATA_SOURCE_HEADERS = [
    ResponseHeader(
        name="X-Data-Source",
        documentation_only=True,
        description=(
            "Where the answer came from: `exchange` (this request's own exchange call), "
            "`coalesced` (an identical call in flight, shared), `cache` (an earlier answer "
            "within the freshness window, `[budget.max_age_ms]` or the body's `maxAgeMs`), "
            "`stream` (the latest update of a live stream of the same data)."
        ),
        example="coalesced",
    ),
    ResponseHeader(
        name="X-Data-Age-Ms",
        documentation_only=True,
        description="Age of the data in ms: time since it arrived from the exchange.",
        example="120",
    ),
]


def served(body: B, receipt: ReadReceipt) -> Response[B]:
    """The answer body unchanged, with the two headers from the read's receipt."""
    return Response(
        body,
        status_code=200,
        headers={"X-Data-Source": receipt.source, "X-Data-Age-Ms": str(receipt.age_ms)},
    )
