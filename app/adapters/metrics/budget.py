"""Feeds the rate-budget work (issue 9) into the Metrics port.

``MetricsBudgetObserver`` is the ``BudgetObserver`` the read budget reports each answer's
source to; ``budget_samples`` turns ``RateBudget.snapshot()`` into scrape-time gauges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from app.ports.metrics import Metrics, Sample


class MetricsBudgetObserver:
    """``read_served(exchange, data_type, source)`` -> ``profitmaker_exchange_reads_total``."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def read_served(self, exchange_id: str, data_type: str, source: str) -> None:
        self._metrics.exchange_read(exchange_id, source)


Snapshot = Callable[[], Mapping[str, Mapping[str, Any]]]


def register_budget_metrics(metrics: Metrics, snapshot: Snapshot) -> None:
    """Gauges and counters read from the rate budget's snapshot at each scrape.

    ``exchange_budget_weight{exchange,family,kind=used|limit}`` (weight this minute),
    ``exchange_budget_used_ratio{exchange,family}`` (alert above 0.8) and
    ``exchange_rate_stops_total{exchange,status}`` (the 429/418 answers that stopped us).
    """

    def weights() -> Iterable[Sample]:
        for exchange, state in snapshot().items():
            for family, window in state.get("families", {}).items():
                yield Sample((exchange, family, "used"), float(window["weightUsed"]))
                yield Sample((exchange, family, "limit"), float(window["weightPerMinute"]))

    def ratios() -> Iterable[Sample]:
        for exchange, state in snapshot().items():
            for family, window in state.get("families", {}).items():
                limit = float(window["weightPerMinute"]) or 1.0
                used = max(
                    float(window["weightUsed"]), float(window.get("exchangeReportedUsed") or 0)
                )
                yield Sample((exchange, family), used / limit)

    def stops() -> Iterable[Sample]:
        for exchange, state in snapshot().items():
            for status, count in state.get("stops", {}).items():
                yield Sample((exchange, str(status)), float(count))

    metrics.gauge(
        "exchange_budget_weight",
        "Request weight used this minute and the limit, per exchange and limit family.",
        ("exchange", "family", "kind"),
        weights,
    )
    metrics.gauge(
        "exchange_budget_used_ratio",
        "Share of the per-minute weight limit in use (our count or the exchange's, the larger).",
        ("exchange", "family"),
        ratios,
    )
    metrics.counter_source(
        "exchange_rate_stops",
        "Exchange answers 429/418 that stopped calls to it.",
        ("exchange", "status"),
        stops,
    )
