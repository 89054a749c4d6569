"""Adapters of the Metrics port: Prometheus, and in-memory ones for tests."""

from app.adapters.metrics.memory import NullMetrics, RecordingMetrics
from app.adapters.metrics.prometheus import PrometheusMetrics

__all__ = ["NullMetrics", "PrometheusMetrics", "RecordingMetrics"]
