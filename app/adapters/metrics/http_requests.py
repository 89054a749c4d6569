"""The per-request HTTP samples, counted in plain Python and rendered at scrape time.

``profitmaker_http_requests_total{route,method,status}`` and
``profitmaker_http_request_duration_seconds{route}`` are the only samples taken on every
REST request. Through prometheus-client's ``Counter`` and ``Histogram`` they cost ~5.6 us of
server CPU per request (a label-child lookup, a lock and a float add each; measured with
``bench.rest --overhead``, ADR 0180); counted here, a dict update and a list add, ~1 us. The
exposition is the same text: the same families, samples, labels, bucket bounds and
``_created`` series as the two prometheus-client metrics would write (a test renders both
side by side).

Counting happens on the event loop thread only. A scrape may come from another thread (the
separate metrics port): it copies each dict and list in one C-level call, which the GIL
keeps whole, so a scrape sees every count either before or after a request, never half.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

REQUESTS_HELP = "REST requests answered, by route template and status."
DURATION_HELP = "REST request duration (s), by route."


class HttpRequestCounts(Collector):
    """Counts of ``http_request(route, method, status, seconds)`` for one registry.

    Args:
        prefix: the family name prefix (``profitmaker_``).
        buckets: the histogram's upper bounds in seconds, ascending, without ``+Inf``.
        clock: wall time in s for the ``_created`` samples (``time.time``, as
            prometheus-client's own metrics use).
    """

    def __init__(
        self, prefix: str, buckets: tuple[float, ...], clock: Callable[[], float] = time.time
    ) -> None:
        self._requests_name = prefix + "http_requests"
        self._duration_name = prefix + "http_request_duration_seconds"
        self._bounds = tuple(float(b) for b in buckets)
        # The bucket names prometheus-client's Histogram writes ("0.001", "1.0", "+Inf").
        self._bucket_names = [str(floatToGoString(b)) for b in self._bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        self._now = clock
        self._requests: dict[tuple[str, str, str], int] = {}
        self._requests_created: dict[tuple[str, str, str], float] = {}
        # route -> [count per bucket (not cumulative) ..., +Inf count, sum of seconds]
        self._durations: dict[str, list[float]] = {}
        self._durations_created: dict[str, float] = {}
        self._status_text: dict[int, str] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request: +1 on its (route, method, status), ``seconds`` in its
        route's histogram (the first bucket whose bound is >= seconds, as ``le`` says)."""
        status_text = self._status_text.get(status)
        if status_text is None:
            status_text = self._status_text[status] = str(status)
        key = (route, method, status_text)
        count = self._requests.get(key)
        if count is None:
            self._requests_created[key] = self._now()
            count = 0
        self._requests[key] = count + 1
        state = self._durations.get(route)
        if state is None:
            self._durations_created[route] = self._now()
            state = self._durations[route] = [0.0] * (len(self._bounds) + 2)
        state[bisect_left(self._bounds, seconds)] += 1
        state[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        # PROMETHEUS_DISABLE_CREATED_SERIES turns the _created series off, for both kinds.
        with_created = getattr(prometheus_metrics, "_use_created", True)
        requests = CounterMetricFamily(
            self._requests_name, REQUESTS_HELP, labels=["route", "method", "status"]
        )
        requests_created = dict(self._requests_created)
        for key, count in list(self._requests.items()):
            since = requests_created.get(key) if with_created else None
            requests.add_metric(list(key), count, created=since)
        yield requests
        durations = HistogramMetricFamily(self._duration_name, DURATION_HELP, labels=["route"])
        durations_created = dict(self._durations_created)
        for route, live in list(self._durations.items()):
            state = list(live)
            cumulative, buckets = 0.0, list[tuple[str, float]]()
            for name, in_bucket in zip(self._bucket_names, state[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((name, cumulative))
            durations.add_metric([route], buckets, state[-1])
            since = durations_created.get(route) if with_created else None
            if since is not None:  # as prometheus-client's Histogram writes it, last
                durations.samples.append(
                    Sample(self._duration_name + "_created", {"route": route}, since, None, None)
                )
        yield durations
