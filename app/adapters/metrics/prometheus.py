"""The Metrics port on prometheus-client, with one CollectorRegistry per application.

No global default registry: tests build many apps in one process, and two registries never
share a sample. Counters and histograms are updated on the hot path through label-child
caches (one dict lookup); gauges that describe state (live streams, cache size, connections,
budgets) are read at scrape time by ``_ScrapeCollector`` from sources other components
register, so nothing is updated per message for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from app.adapters.metrics.http_requests import HttpRequestCounts
from app.ports.metrics import GaugeSource, Sample

PREFIX = "profitmaker_"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format every Prometheus version scrapes."""

# Latency buckets in seconds: REST answers from the cache take ~1 ms, exchange calls 50 ms
# to the 30 s ccxt timeout.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
EXCHANGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Exchange-to-client lag: sub-10 ms on loopback, 50-500 ms on a real exchange.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PrometheusMetrics:
    """``app.ports.metrics.Metrics`` on its own ``CollectorRegistry``.

    ``exposition()`` renders the text format; the caller (``GET /metrics`` or the separate
    metrics port) decides who may read it.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        # Taken on every REST request: counted in plain Python, same exposition (ADR 0180).
        self._http = HttpRequestCounts(PREFIX, HTTP_BUCKETS)
        r.register(self._http)
        self._token_requests = Counter(
            PREFIX + "token_requests",
            "Requests by token name and outcome (ok, quota).",
            ("token", "outcome"),
            registry=r,
        )
        self._exchange_calls = Counter(
            PREFIX + "exchange_calls",
            "REST calls to exchanges, by method and outcome.",
            ("exchange", "method", "outcome"),
            registry=r,
        )
        self._exchange_latency = Histogram(
            PREFIX + "exchange_call_duration_seconds",
            "Exchange call duration (s).",
            ("exchange", "method"),
            buckets=EXCHANGE_BUCKETS,
            registry=r,
        )
        self._market_loads = Counter(
            PREFIX + "market_loads",
            "load_markets calls that reached an exchange.",
            ("exchange", "outcome"),
            registry=r,
        )
        self._reads = Counter(
            PREFIX + "exchange_reads",
            "Market-data reads served, by source (exchange, coalesced, cache, stream).",
            ("exchange", "source"),
            registry=r,
        )
        self._stream_updates = Counter(
            PREFIX + "stream_updates",
            "Upstream updates delivered, by data type.",
            ("data_type",),
            registry=r,
        )
        self._stream_lag = Histogram(
            PREFIX + "stream_lag_seconds",
            "Exchange timestamp to delivery (s), for updates that carry a timestamp.",
            ("data_type",),
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self._restarts = Counter(
            PREFIX + "stream_restarts",
            "Upstream loops restarted after an error.",
            ("data_type",),
            registry=r,
        )
        self._watchdog = Counter(
            PREFIX + "stream_watchdog_firings",
            "Silent streams restarted by the watchdog.",
            ("data_type",),
            registry=r,
        )
        self._socket_messages = Counter(
            PREFIX + "socketio_messages",
            "Updates combined or dropped for slow clients.",
            ("outcome",),
            registry=r,
        )
        self._proxy_requests = Counter(
            PREFIX + "proxy_requests",
            "CORS proxy calls by outcome.",
            ("outcome",),
            registry=r,
        )
        self._proxy_refusals = Counter(
            PREFIX + "proxy_refusals",
            "CORS proxy refusals by reason.",
            ("reason",),
            registry=r,
        )
        self._scrape = _ScrapeCollector()
        r.register(self._scrape)
        self._children: dict[tuple[Any, ...], Any] = {}
        self.http_port: int | None = None
        """The separate metrics port once it listens (``metrics_port = 0`` picks one)."""

    # -- the port -------------------------------------------------------------------------

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._http.observe(route, method, status, seconds)

    def token_request(self, token: str, outcome: str) -> None:
        self._child(self._token_requests, token, outcome).inc()

    def exchange_call(self, exchange: str, method: str, outcome: str, seconds: float) -> None:
        self._child(self._exchange_calls, exchange, method, outcome).inc()
        self._child(self._exchange_latency, exchange, method).observe(seconds)

    def market_load(self, exchange: str, outcome: str) -> None:
        self._child(self._market_loads, exchange, outcome).inc()

    def exchange_read(self, exchange: str, source: str) -> None:
        self._child(self._reads, exchange, source).inc()

    def stream_update(self, data_type: str, lag_seconds: float | None) -> None:
        self._child(self._stream_updates, data_type).inc()
        if lag_seconds is not None:
            self._child(self._stream_lag, data_type).observe(max(lag_seconds, 0.0))

    def stream_restarted(self, data_type: str) -> None:
        self._child(self._restarts, data_type).inc()

    def watchdog_fired(self, data_type: str) -> None:
        self._child(self._watchdog, data_type).inc()

    def socket_message(self, outcome: str) -> None:
        self._child(self._socket_messages, outcome).inc()

    def proxy_request(self, outcome: str) -> None:
        self._child(self._proxy_requests, outcome).inc()

    def proxy_refused(self, reason: str) -> None:
        self._child(self._proxy_refusals, reason).inc()

    def gauge(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        self._scrape.add(PREFIX + name, documentation, labels, source, GaugeMetricFamily)

    def counter_source(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        self._scrape.add(PREFIX + name, documentation, labels, source, CounterMetricFamily)

    # -- exposition -----------------------------------------------------------------------

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Scrapes from another thread (the separate metrics port) read state on ``loop``."""
        self._scrape.loop = loop

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)

    def _child(self, family: Any, *values: str) -> Any:
        key = (id(family), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child


_Family = Callable[..., Any]


class _ScrapeCollector(Collector):
    """Builds the scrape-time families; on a foreign thread, reads them on the app's loop."""

    def __init__(self) -> None:
        self._sources: dict[str, tuple[str, tuple[str, ...], GaugeSource, _Family]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def add(
        self, name: str, doc: str, labels: tuple[str, ...], source: GaugeSource, kind: _Family
    ) -> None:
        self._sources[name] = (doc, labels, source, kind)

    def collect(self) -> Iterator[Metric]:
        loop = self.loop
        if loop is not None and loop.is_running() and not _on_loop_thread(loop):
            future = asyncio.run_coroutine_threadsafe(_as_coroutine(self._families), loop)
            yield from future.result(timeout=5)
            return
        yield from self._families()

    def _families(self) -> list[Metric]:
        families: list[Metric] = []
        for name, (doc, labels, source, kind) in list(self._sources.items()):
            family = kind(name, doc, labels=list(labels))
            for sample in _read(source):
                family.add_metric(list(sample.labels), sample.value)
            families.append(family)
        return families


def _read(source: GaugeSource) -> Iterable[Sample]:
    try:
        return list(source())
    except Exception:  # noqa: BLE001 - one broken source must not fail the whole scrape
        return []


async def _as_coroutine(build: Callable[[], list[Metric]]) -> list[Metric]:
    return build()


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs on this thread: a scraper thread
        return False
