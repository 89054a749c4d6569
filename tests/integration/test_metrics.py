"""GET /metrics after known activity against the binance emulator: the counters equal what
the emulator saw, labels are bounded, and no token or credential appears anywhere."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.adapters.ccxt.backend import CcxtBackend
from app.settings import ExchangeSettings, TokenSettings
from tests.emulator.binance import API_KEY, SECRET, BinanceEmulator
from tests.emulator.fixtures import binance_emulator  # noqa: F401 - fixture
from tests.support.app import AUTH, TOKEN, make_app, make_settings
from tests.support.server import served_client

DESK_TOKEN = "desk-a-token-value-1234567890"
DESK = {"Authorization": f"Bearer {DESK_TOKEN}"}
TICKER = {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by (sample name, label set)."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def client(binance_emulator: BinanceEmulator) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    settings = make_settings()
    settings.exchanges["binance"] = ExchangeSettings(ccxt=binance_emulator.overrides())
    settings.ccxt.enable_rate_limit = False
    settings.tokens = [
        TokenSettings(name="desk-a", sha256=hashlib.sha256(DESK_TOKEN.encode()).hexdigest())
    ]
    async with served_client(make_app(settings, [CcxtBackend(settings)])) as http:
        yield http


async def call(client: httpx.AsyncClient, path: str, body: Any, headers: Any = AUTH) -> Any:
    return await client.post(f"/api/exchange/{path}", json=body, headers=headers)


async def test_metrics_need_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 401
    assert (
        await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    ).status_code == 403
    response = await client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


async def test_counters_equal_what_the_emulator_saw(
    client: httpx.AsyncClient,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    for _ in range(3):  # the first reaches the exchange, the others are served fresh from cache
        assert (await call(client, "fetchTicker", TICKER)).status_code == 200
    for symbol in ("ETH/USDT", "BNB/USDT"):
        book = {**TICKER, "symbol": symbol, "limit": 5}
        assert (await call(client, "fetchOrderBook", book, DESK)).status_code == 200
    creds = {"exchangeId": "binance", "apiKey": API_KEY, "secret": SECRET}
    assert (await call(client, "fetchBalance", {"config": creds})).status_code == 200
    assert (await client.get("/no/such/path/123", headers=AUTH)).status_code == 404
    assert (await client.head("/api/backends", headers=AUTH)).status_code == 200
    binance_emulator.fail("ticker/24hr", "rate_limit")  # last: a 429 stops calls to binance
    limited = await call(client, "fetchTicker", {**TICKER, "symbol": "ETH/USDT"})
    assert limited.status_code == 429

    text = (await client.get("/metrics", headers=AUTH)).text
    calls = "profitmaker_exchange_calls_total"
    ok = {"exchange": "binance", "outcome": "ok"}
    tickers_seen = binance_emulator.count("/ticker/24hr")
    assert tickers_seen == 2  # BTC once, ETH once (rate-limited)
    assert value(text, calls, method="fetch_ticker", **ok) == 1
    assert value(text, calls, exchange="binance", method="fetch_ticker", outcome="RateLimited") == 1
    assert (
        value(text, calls, method="fetch_order_book", **ok) == binance_emulator.count("/depth") == 2
    )
    assert (
        value(text, calls, method="fetch_balance", **ok) == binance_emulator.count("/account") == 1
    )
    loads = value(text, "profitmaker_market_loads_total", exchange="binance", outcome="ok")
    assert loads == 1 and binance_emulator.exchange_info_loads >= 1  # credentials share markets

    reads = "profitmaker_exchange_reads_total"
    assert value(text, reads, exchange="binance", source="cache") == 2
    assert value(text, reads, exchange="binance", source="exchange") >= 3
    assert (
        value(text, "profitmaker_exchange_rate_stops_total", exchange="binance", status="429") == 1
    )
    ratio = value(text, "profitmaker_exchange_budget_used_ratio", exchange="binance", family="api")
    assert 0 < ratio < 1

    requests = "profitmaker_http_requests_total"
    route = "/api/exchange/fetchTicker"
    assert value(text, requests, route=route, method="POST", status="200") == 3
    assert value(text, requests, route=route, method="POST", status="429") == 1
    assert value(text, requests, route="unmatched", method="GET", status="404") == 1
    assert value(text, requests, route="/api/backends", method="HEAD", status="200") == 1
    assert not any("/no/such/path" in line for line in text.splitlines())
    count = "profitmaker_http_request_duration_seconds_count"
    assert value(text, count, route=route) == 4

    tokens = "profitmaker_token_requests_total"
    assert value(text, tokens, token="desk-a", outcome="ok") == 2
    assert value(text, tokens, token="api_token", outcome="ok") >= 6
    assert value(text, "profitmaker_instance_cache_size") == 2  # public + credentialed

    for secret in (
        TOKEN,
        DESK_TOKEN,
        API_KEY,
        SECRET,
        hashlib.sha256(DESK_TOKEN.encode()).hexdigest(),
    ):
        assert secret not in text


async def test_metrics_public_and_separate_port(
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    settings = make_settings(metrics_public=True, metrics_port=0)
    app = make_app(settings, [CcxtBackend(settings)])
    async with served_client(app) as http:
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/api/backends")).status_code == 401  # only /metrics opened
        metrics = app.container.metrics()
        assert metrics.registry is not make_app(settings, []).container.metrics().registry
        assert metrics.http_port
        async with httpx.AsyncClient() as plain:  # scraped from the server's own thread
            separate = await plain.get(f"http://127.0.0.1:{metrics.http_port}/metrics")
        assert separate.status_code == 200
        assert value(separate.text, "profitmaker_streams_live") == 0
        assert "profitmaker_socketio_connections" in separate.text
    closed = make_settings(metrics_port=0)
    async with served_client(make_app(closed, [CcxtBackend(closed)])) as http:
        assert (await http.get("/metrics")).status_code == 401
