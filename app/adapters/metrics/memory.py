"""In-memory Metrics: ``NullMetrics`` (counts nothing) and ``RecordingMetrics`` (for tests)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from app.ports.metrics import GaugeSource, Sample


class NullMetrics:
    """The Metrics port doing nothing: the default where no metrics are wanted."""

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        pass

    def token_request(self, token: str, outcome: str) -> None:
        pass

    def exchange_call(self, exchange: str, method: str, outcome: str, seconds: float) -> None:
        pass

    def market_load(self, exchange: str, outcome: str) -> None:
        pass

    def exchange_read(self, exchange: str, source: str) -> None:
        pass

    def stream_update(self, data_type: str, lag_seconds: float | None) -> None:
        pass

    def stream_restarted(self, data_type: str) -> None:
        pass

    def watchdog_fired(self, data_type: str) -> None:
        pass

    def socket_message(self, outcome: str) -> None:
        pass

    def proxy_request(self, outcome: str) -> None:
        pass

    def proxy_refused(self, reason: str) -> None:
        pass

    def gauge(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        pass

    def counter_source(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        pass


class RecordingMetrics(NullMetrics):
    """Counts every call by (method name, *labels); reads registered gauges on demand.

    ``counts[("exchange_call", "binance", "fetch_ticker", "ok")] == 1`` after one call;
    durations and lags are kept in ``observed``.
    """

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, ...]] = Counter()
        self.observed: dict[tuple[str, ...], list[float]] = {}
        self.sources: dict[str, GaugeSource] = {}

    def _hit(self, *key: Any, value: float | None = None) -> None:
        labels = tuple(str(part) for part in key)
        self.counts[labels] += 1
        if value is not None:
            self.observed.setdefault(labels, []).append(value)

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._hit("http_request", route, method, status, value=seconds)

    def token_request(self, token: str, outcome: str) -> None:
        self._hit("token_request", token, outcome)

    def exchange_call(self, exchange: str, method: str, outcome: str, seconds: float) -> None:
        self._hit("exchange_call", exchange, method, outcome, value=seconds)

    def market_load(self, exchange: str, outcome: str) -> None:
        self._hit("market_load", exchange, outcome)

    def exchange_read(self, exchange: str, source: str) -> None:
        self._hit("exchange_read", exchange, source)

    def stream_update(self, data_type: str, lag_seconds: float | None) -> None:
        self._hit("stream_update", data_type, value=lag_seconds)

    def stream_restarted(self, data_type: str) -> None:
        self._hit("stream_restarted", data_type)

    def watchdog_fired(self, data_type: str) -> None:
        self._hit("watchdog_fired", data_type)

    def socket_message(self, outcome: str) -> None:
        self._hit("socket_message", outcome)

    def proxy_request(self, outcome: str) -> None:
        self._hit("proxy_request", outcome)

    def proxy_refused(self, reason: str) -> None:
        self._hit("proxy_refused", reason)

    def gauge(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        self.sources[name] = source

    def counter_source(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        self.sources[name] = source

    def read(self, name: str) -> list[Sample]:
        """The current samples of a registered gauge or counter source."""
        return list(self.sources[name]())
