"""HttpRequestCounts writes exactly what prometheus-client's Counter and Histogram write."""

from __future__ import annotations

import prometheus_client.metrics
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from app.adapters.metrics.http_requests import (
    DURATION_HELP,
    REQUESTS_HELP,
    HttpRequestCounts,
)
from app.adapters.metrics.prometheus import HTTP_BUCKETS, PREFIX, PrometheusMetrics

CREATED = 1_764_554_400.25

# Bucket bounds exactly (le is inclusive), between them, 0, beyond the last bound (+Inf).
OBSERVATIONS = [
    ("/health", "GET", 200, 0.0),
    ("/health", "GET", 200, 0.001),
    ("/health", "HEAD", 200, 0.0010001),
    ("/api/exchange/{method:str}", "POST", 200, 0.0025),
    ("/api/exchange/{method:str}", "POST", 429, 29.999),
    ("/api/exchange/{method:str}", "POST", 200, 30.0),
    ("unmatched", "GET", 404, 31.5),
    ("/health", "GET", 200, 0.7),
    ("/api/exchange/{method:str}", "POST", 200, 0.05),
]


def _library_exposition(observations: list[tuple[str, str, int, float]]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    requests = Counter(
        PREFIX + "http_requests", REQUESTS_HELP, ("route", "method", "status"), registry=registry
    )
    durations = Histogram(
        PREFIX + "http_request_duration_seconds",
        DURATION_HELP,
        ("route",),
        buckets=HTTP_BUCKETS,
        registry=registry,
    )
    for route, method, status, seconds in observations:
        requests.labels(route, method, str(status)).inc()
        durations.labels(route).observe(seconds)
    return generate_latest(registry)


def _our_exposition(observations: list[tuple[str, str, int, float]]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    counts = HttpRequestCounts(PREFIX, HTTP_BUCKETS, clock=lambda: CREATED)
    registry.register(counts)
    for observation in observations:
        counts.observe(*observation)
    return generate_latest(registry)


@pytest.fixture
def fixed_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # prometheus-client stamps a label child's _created with time.time() when it is made.
    monkeypatch.setattr(prometheus_client.metrics.time, "time", lambda: CREATED)


@pytest.mark.usefixtures("fixed_wall_clock")
def test_the_exposition_is_byte_for_byte_the_libraries() -> None:
    ours = _our_exposition(OBSERVATIONS)
    assert ours == _library_exposition(OBSERVATIONS)
    # Positive control: the comparison sees a difference of one request.
    assert ours != _library_exposition(OBSERVATIONS[:-1])
    text = ours.decode()
    assert 'profitmaker_http_requests_total{method="GET",route="/health",status="200"} 3.0' in text
    assert (
        'profitmaker_http_request_duration_seconds_bucket{le="0.001",route="/health"} 2.0' in text
    )
    assert (
        'profitmaker_http_request_duration_seconds_bucket{le="+Inf",route="unmatched"} 1.0' in text
    )


@pytest.mark.usefixtures("fixed_wall_clock")
def test_no_created_series_when_prometheus_client_is_told_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prometheus_client.metrics, "_use_created", False)
    ours = _our_exposition(OBSERVATIONS)
    assert ours == _library_exposition(OBSERVATIONS)
    assert b"_created" not in ours
    assert b"_total" in ours  # positive control: the samples themselves are there


def test_the_adapter_reports_http_requests_through_the_counts() -> None:
    metrics = PrometheusMetrics()
    metrics.http_request("/health", "GET", 200, 0.002)
    metrics.http_request("/health", "GET", 200, 0.002)
    text = metrics.exposition().decode()
    assert 'profitmaker_http_requests_total{method="GET",route="/health",status="200"} 2.0' in text
    assert 'profitmaker_http_request_duration_seconds_sum{route="/health"} 0.004' in text
    # The families keep their place: first in the registry, as before.
    assert text.index("profitmaker_http_requests_total") < text.index("profitmaker_token_requests")
