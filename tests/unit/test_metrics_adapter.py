"""The Prometheus adapter: one registry per instance, scrape-time gauges, bounded labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from app.adapters.metrics import PrometheusMetrics, RecordingMetrics
from app.adapters.metrics.proxy import refusal_reason
from app.ports.metrics import Metrics, Sample


def parsed(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_instances_share_nothing() -> None:
    a, b = PrometheusMetrics(), PrometheusMetrics()
    a.stream_restarted("ticker")
    a.stream_restarted("ticker")
    assert parsed(a)[("profitmaker_stream_restarts_total", (("data_type", "ticker"),))] == 2
    assert ("profitmaker_stream_restarts_total", (("data_type", "ticker"),)) not in parsed(b)


def test_gauges_are_read_at_scrape_time() -> None:
    metrics = PrometheusMetrics()
    live = {"n": 1}
    metrics.gauge("streams_live", "doc", (), lambda: [Sample((), live["n"])])
    metrics.gauge("broken", "doc", (), lambda: 1 / 0)  # type: ignore[arg-type,return-value]
    assert parsed(metrics)[("profitmaker_streams_live", ())] == 1
    live["n"] = 7
    assert parsed(metrics)[("profitmaker_streams_live", ())] == 7  # a broken source is skipped


def test_lag_histogram_and_updates() -> None:
    metrics = PrometheusMetrics()
    metrics.stream_update("orderbook", 0.02)
    metrics.stream_update("orderbook", None)
    values = parsed(metrics)
    assert values[("profitmaker_stream_updates_total", (("data_type", "orderbook"),))] == 2
    assert values[("profitmaker_stream_lag_seconds_count", (("data_type", "orderbook"),))] == 1
    assert (
        values[
            ("profitmaker_stream_lag_seconds_bucket", (("data_type", "orderbook"), ("le", "0.025")))
        ]
        == 1
    )


def test_every_adapter_satisfies_the_port() -> None:
    assert isinstance(PrometheusMetrics(), Metrics)
    assert isinstance(RecordingMetrics(), Metrics)


def test_refusal_reasons_are_bounded_words_not_addresses() -> None:
    assert refusal_reason("Target address 10.0.0.1 is in a blocked range (private)") == (
        "blocked_address"
    )
    assert refusal_reason("Scheme 'ftp' is not allowed: use http or https") == "scheme"
    assert refusal_reason("something new 192.168.1.1") == "other"
