"""Every error a REST watch caller can meet has its own status and errorType, never a 500
(issue 10 item 3), and a REST watch that times out never cancels the shared upstream read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.adapters.cache.memory import InMemoryInstanceCache
from app.domain import errors as domain
from app.domain.config import ExchangeConfig
from app.domain.streams import StreamHub, StreamRequest, StreamService, SubscriptionRegistry
from app.settings import CacheSettings, StreamSettings
from app.testing import eventually
from app.testing.fakes import FakeBackend, FakeExchangeGateway
from tests.support.app import AUTH, make_app, make_settings
from tests.support.server import running_server

PRO = {"exchangeId": "fake", "ccxtType": "pro"}
TICKER = {"config": PRO, "symbol": "BTC/USDT"}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def watch(backend: FakeBackend) -> AsyncIterator[Any]:
    """post(body, **stream_settings) against a real server built with those settings."""
    stack: list[Any] = []

    async def post(body: dict[str, Any] = TICKER, **streams: Any) -> httpx.Response:
        settings = make_settings(streams={"rest_watch_timeout_seconds": 5, **streams})
        application = make_app(settings, [backend])
        context = running_server(application)
        url = await context.__aenter__()
        stack.append(context)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            return await client.post("/api/exchange/watchTicker", json=body, headers=AUTH)

    yield post
    for context in reversed(stack):
        await context.__aexit__(None, None, None)


def assert_error(response: httpx.Response, status: int, error_type: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == "Failed to watch ticker"
    assert body["errorType"] == error_type


async def test_the_watchdog_restarting_the_stream_is_504_stream_stalled(watch: Any) -> None:
    response = await watch(watchdog_seconds={"ticker": 0.2})
    assert_error(response, 504, "StreamStalled")
    assert "No data from the exchange for 0.2s" in response.json()["details"]


async def test_no_update_within_the_watch_timeout_is_504_watch_timeout(watch: Any) -> None:
    response = await watch(rest_watch_timeout_seconds=0.2)
    assert_error(response, 504, "WatchTimeout")


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (RuntimeError("socket closed by peer"), 502, "StreamInterrupted"),
        (
            domain.ExchangeUnreachable("connection reset", error_type="NetworkError"),
            502,
            "NetworkError",
        ),
        (domain.RateLimited("slow down", error_type="RateLimitExceeded"), 429, "RateLimitExceeded"),
        (
            domain.ExchangeUnavailable("maintenance", error_type="ExchangeNotAvailable"),
            503,
            "ExchangeNotAvailable",
        ),
        (domain.ExchangeTimeout("slow", error_type="RequestTimeout"), 504, "RequestTimeout"),
        (domain.BadSymbol("gone", error_type="BadSymbol"), 400, "BadSymbol"),
        (domain.NotSupported("no longer", error_type="NotSupported"), 501, "NotSupported"),
    ],
)
async def test_an_upstream_failure_while_waiting_keeps_its_own_status(
    watch: Any, backend: FakeBackend, error: BaseException, status: int, error_type: str
) -> None:
    backend.gateway_kwargs["has"] = {}
    original = backend.create

    def failing(config: Any) -> FakeExchangeGateway:
        gateway = original(config)
        # The first failure comes before the reader waits (right after validation); the
        # retry, 50 ms later, fails again while it waits.
        gateway.fail_next("watch_ticker", error, times=2)
        return gateway

    backend.create = failing  # type: ignore[method-assign]
    response = await watch(retry_initial_seconds=0.05, retry_jitter=0.0)
    assert_error(response, status, error_type)
    assert response.json()["details"] != "Internal server error"


async def test_a_rest_watch_timing_out_never_cancels_the_shared_upstream_read() -> None:
    """ccxt shares one future per stream among its waiters: cancelling it would cut off every
    Socket.IO subscriber. The REST reader waits on its own future; only that one times out."""
    backend = FakeBackend()
    cache = InMemoryInstanceCache(backend.create, CacheSettings())
    publisher = _RecordingPublisher()
    hub = StreamHub(cache, publisher, StreamSettings())
    streams = StreamService(hub, SubscriptionRegistry(), StreamSettings())
    request = StreamRequest(ExchangeConfig("fake", ccxt_type="pro"), "ticker", "BTC/USDT")
    try:
        subscription = await streams.subscribe("c", request)
        gateway = backend.created[0]
        await gateway.wait_for_watchers("ticker", "BTC/USDT")
        with pytest.raises(domain.WatchTimeout):
            await streams.read_next(request, timeout=0.05)
        assert gateway.pending_watchers("ticker", "BTC/USDT") == 1  # the shared read lives on
        assert gateway.calls["watch_ticker"] == 1  # and was never restarted
        assert gateway.push("ticker", "BTC/USDT", {"last": 7}) == 1
        await eventually(lambda: bool(publisher.updates))
        assert publisher.updates[0].data == {"last": 7}
        # Positive control: had the read been cancelled, the gateway would have shown it.
        await gateway.wait_for_watchers("ticker", "BTC/USDT")
        assert streams.unsubscribe("c", subscription.subscription_id)
        await eventually(lambda: gateway.pending_watchers("ticker", "BTC/USDT") == 0)
    finally:
        await hub.aclose()
        await cache.aclose()


class _RecordingPublisher:
    """A StreamPublisher that keeps what it was asked to deliver."""

    def __init__(self) -> None:
        self.updates: list[Any] = []

    def publish(self, update: Any, subscribers: Any) -> None:
        self.updates.append(update)

    def publish_error(self, message: str, subscribers: Any) -> None:
        self.updates.append(message)

    def discard(self, subscriber: Any) -> None:
        return None

    def forget_connection(self, connection_id: str) -> None:
        return None
