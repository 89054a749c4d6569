"""The REST API on the real CCXT backend (binance) pointed at the loopback exchange emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.adapters.ccxt.backend import CcxtBackend
from app.settings import ExchangeSettings
from tests.emulator.binance import API_KEY, SECRET, BinanceEmulator
from tests.emulator.fixtures import binance_emulator  # noqa: F401 - fixture
from tests.support.app import AUTH, make_app, make_settings
from tests.support.server import served_client

Client = httpx.AsyncClient
LIVE_SPOT_HOST = "api.binance.com"


@pytest.fixture
async def ccxt_client(binance_emulator: BinanceEmulator) -> AsyncIterator[Client]:  # noqa: F811
    settings = make_settings()
    settings.exchanges["binance"] = ExchangeSettings(ccxt=binance_emulator.overrides())
    settings.ccxt.enable_rate_limit = False
    # Every request reaches the emulator (failure injection): no freshness window.
    settings.budget.max_age_ms = dict.fromkeys(settings.budget.max_age_ms, 0)
    async with served_client(make_app(settings, [CcxtBackend(settings)])) as client:
        yield client


async def post(client: Client, path: str, body: Any) -> Any:
    return await client.post(f"/api/exchange/{path}", json=body, headers=AUTH)


def hosts(emulator: BinanceEmulator) -> set[str]:
    return {host for _, host, _ in emulator.requests}


async def test_fetch_ticker_through_the_real_ccxt_code_path(
    ccxt_client: Client,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    response = await post(
        ccxt_client, "fetchTicker", {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"}
    )
    assert response.status_code == 200, response.text
    ticker = response.json()["data"]
    assert ticker["symbol"] == "BTC/USDT" and ticker["last"] > 0
    assert binance_emulator.count("/ticker/24hr") == 1
    assert all(host.endswith("binance.com") for host in hosts(binance_emulator))


async def test_futures_really_selects_the_swap_market(
    ccxt_client: Client,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    body = {"config": {"exchangeId": "binance", "marketType": "futures"}, "symbol": "BTC/USDT"}
    response = await post(ccxt_client, "fetchTicker", body)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["symbol"] == "BTC/USDT:USDT"
    tickers = [path for _, host, path in binance_emulator.requests if "ticker/24hr" in path]
    assert tickers and all("/fapi/" in path for path in tickers)


async def test_sandbox_goes_to_the_testnet_and_never_to_live(
    ccxt_client: Client,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    body = {"config": {"exchangeId": "binance", "sandbox": True}, "symbol": "BTC/USDT"}
    response = await post(ccxt_client, "fetchTicker", body)
    assert response.status_code == 200, response.text
    seen = hosts(binance_emulator)
    assert seen and all("testnet" in host for host in seen), seen
    assert LIVE_SPOT_HOST not in seen


async def test_since_and_limit_reach_the_exchange(
    ccxt_client: Client,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    since = binance_emulator.now_ms - 3_600_000
    body = {
        "config": {"exchangeId": "binance"},
        "symbol": "BTC/USDT",
        "timeframe": "5m",
        "since": since,
        "limit": 6,
    }
    response = await post(ccxt_client, "fetchOHLCV", body)
    rows = response.json()["data"]
    assert response.status_code == 200 and len(rows) == 6 and rows[0][0] >= since
    klines = [path for _, _, path in binance_emulator.requests if "/klines" in path]
    assert f"startTime={since}" in klines[-1] and "interval=5m" in klines[-1]
    trades = await post(
        ccxt_client,
        "fetchTrades",
        {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT", "since": since, "limit": 5},
    )
    assert trades.status_code == 200 and all(t["timestamp"] >= since for t in trades.json()["data"])


async def test_balance_with_valid_and_invalid_credentials(ccxt_client: Client) -> None:
    good = {"exchangeId": "binance", "apiKey": API_KEY, "secret": SECRET}
    ok = await post(ccxt_client, "fetchBalance", {"config": good})
    assert ok.status_code == 200, ok.text
    assert "total" in ok.json()["data"]
    # Same first 8 characters of the key, other key: must not reuse the authenticated instance.
    twin = {**good, "apiKey": API_KEY[:8] + "X" * (len(API_KEY) - 8)}
    refused = await post(ccxt_client, "fetchBalance", {"config": twin})
    assert refused.status_code == 400
    assert refused.json()["errorType"] == "AuthenticationError"
    assert twin["apiKey"] not in refused.text and SECRET not in refused.text
    rotated = await post(
        ccxt_client, "fetchBalance", {"config": {**good, "secret": "rotated-secret"}}
    )
    assert rotated.status_code == 400, "a rotated secret must not reuse the old instance"


async def test_twenty_concurrent_cold_requests_load_markets_once(
    ccxt_client: Client,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    body = {"config": {"exchangeId": "binance"}, "symbol": "ETH/USDT"}
    responses = await asyncio.gather(*(post(ccxt_client, "fetchTicker", body) for _ in range(20)))
    assert all(r.status_code == 200 for r in responses)
    loads = [path for _, _, path in binance_emulator.requests if "exchangeInfo" in path]
    assert loads, "markets were loaded"
    assert len(loads) == len(set(loads)), f"each market section loaded once: {loads}"


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        # ccxt classifies an HTTP 429 by status before the body's -1003: DDoSProtection.
        ("rate_limit", 429, {"RateLimitExceeded", "DDoSProtection"}),
        ("unavailable", 503, {"ExchangeNotAvailable"}),
        ("bad_symbol", 400, {"BadSymbol"}),
    ],
)
async def test_exchange_failures_map_to_statuses(
    ccxt_client: Client,
    binance_emulator: BinanceEmulator,  # noqa: F811
    kind: str,
    status: int,
    error_type: set[str],
) -> None:
    body = {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"}
    assert (await post(ccxt_client, "fetchTicker", body)).status_code == 200
    binance_emulator.fail("ticker/24hr", kind)
    response = await post(ccxt_client, "fetchTicker", body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == "Failed to fetch ticker"
    assert response.json()["errorType"] in error_type


async def test_unknown_symbol_at_the_exchange_is_400(ccxt_client: Client) -> None:
    body = {"config": {"exchangeId": "binance"}, "symbol": "NOPE/USDT"}
    response = await post(ccxt_client, "fetchTicker", body)
    assert response.status_code == 400 and response.json()["errorType"] == "BadSymbol"


async def test_exchange_timeout_is_504(binance_emulator: BinanceEmulator) -> None:  # noqa: F811
    settings = make_settings()
    settings.exchanges["binance"] = ExchangeSettings(ccxt=binance_emulator.overrides(timeout=300))
    settings.budget.max_age_ms = dict.fromkeys(settings.budget.max_age_ms, 0)
    async with served_client(make_app(settings, [CcxtBackend(settings)])) as client:
        body = {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"}
        assert (await post(client, "fetchTicker", body)).status_code == 200
        binance_emulator.fail("ticker/24hr", "delay", delay=1.0)
        response = await post(client, "fetchTicker", body)
    assert response.status_code == 504 and response.json()["errorType"] == "RequestTimeout"
