"""Metrics: what the server counts and measures, in domain words (no metrics library here).

The Prometheus adapter (``app.adapters.metrics.prometheus``) turns each call into a sample
of a named family (the names are listed on each method); ``NullMetrics`` and
``RecordingMetrics`` (``app.adapters.metrics.memory``) serve unit tests. Every method is
synchronous, cheap (a dict lookup and an add) and never raises.

Label values must stay bounded: route templates (never raw paths), exchange ids of served
exchanges, method names of the gateway port, data types, token *names* (never a token),
outcome words from a fixed set. Symbols appear only in the scrape-time stream gauges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a scrape-time gauge: its label values, in the family's label order."""

    labels: tuple[str, ...]
    value: float


GaugeSource = Callable[[], Iterable[Sample]]
"""Called at every scrape (on the event loop thread or a scraper thread): must be quick and
must only read state, never await."""


@runtime_checkable
class Metrics(Protocol):
    """Counters and histograms the domain and the entrypoints report to."""

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One REST request answered.

        ``profitmaker_http_requests_total{route,method,status}`` and
        ``profitmaker_http_request_duration_seconds{route}``. ``route`` is the route template
        (``/api/exchange/{method}``) or ``unmatched``.
        """
        ...

    def token_request(self, token: str, outcome: str) -> None:
        """A request (REST or Socket.IO subscribe) made with a named token.

        ``profitmaker_token_requests_total{token,outcome}``; outcome ``ok|quota``.
        ``token`` is the configured name (``api_token`` for API_TOKEN), never the token.
        """
        ...

    def exchange_call(self, exchange: str, method: str, outcome: str, seconds: float) -> None:
        """One REST call to an exchange through the gateway port.

        ``profitmaker_exchange_calls_total{exchange,method,outcome}`` and
        ``profitmaker_exchange_call_duration_seconds{exchange,method}``; outcome is ``ok`` or
        the domain error type (``ExchangeNotAvailable``, ``RateLimitExceeded``, ...).
        """
        ...

    def market_load(self, exchange: str, outcome: str) -> None:
        """One ``load_markets`` that reached the exchange (``profitmaker_market_loads_total``)."""
        ...

    def exchange_read(self, exchange: str, source: str) -> None:
        """A market-data read served, by where its answer came from (issue 9).

        ``profitmaker_exchange_reads_total{exchange,source}``; source
        ``exchange|coalesced|cache|stream``.
        """
        ...

    def stream_update(self, data_type: str, lag_seconds: float | None) -> None:
        """An upstream update delivered; ``lag_seconds`` = server time - exchange timestamp.

        ``profitmaker_stream_updates_total{data_type}`` and
        ``profitmaker_stream_lag_seconds{data_type}`` (only when the update has a timestamp).
        """
        ...

    def stream_restarted(self, data_type: str) -> None:
        """An upstream loop restarted after an error (``profitmaker_stream_restarts_total``)."""
        ...

    def watchdog_fired(self, data_type: str) -> None:
        """A silent stream was restarted (``profitmaker_stream_watchdog_firings_total``)."""
        ...

    def socket_message(self, outcome: str) -> None:
        """A Socket.IO update not sent as is to a slow client.

        ``profitmaker_socketio_messages_total{outcome}``; outcome ``combined|dropped``.
        """
        ...

    def proxy_request(self, outcome: str) -> None:
        """One CORS proxy call (``profitmaker_proxy_requests_total{outcome}``).

        outcome ``ok|refused|timeout|failed|bad_input``.
        """
        ...

    def proxy_refused(self, reason: str) -> None:
        """Why the proxy refused (``profitmaker_proxy_refusals_total{reason}``), a fixed word."""
        ...

    def gauge(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        """Export a gauge family read from ``source`` at scrape time (no hot-path updates).

        ``name`` without the ``profitmaker_`` prefix; registering a name again replaces it.
        """
        ...

    def counter_source(
        self, name: str, documentation: str, labels: tuple[str, ...], source: GaugeSource
    ) -> None:
        """Export a counter family whose totals another component keeps (read at scrape)."""
        ...
