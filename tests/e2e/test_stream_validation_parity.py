"""Issue 10 item 2: watch and subscribe refuse what fetch refuses, at once, with the same text.

The real app on the real CCXT backend (ccxt binance on the loopback emulator), served by
uvicorn; REST through httpx, Socket.IO through python-socketio. For each bad input the fetch
endpoint's answer is the reference: the watch endpoint answers the same status and details
without waiting for its timeout, and a subscription gets ``subscription_error`` with the same
text and never ``subscribed``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.adapters.ccxt.backend import CcxtBackend
from app.entrypoints.asgi import Application
from app.settings import ExchangeSettings
from app.testing import eventually
from tests.e2e.socketio_client import EventClient
from tests.emulator import BinanceEmulator
from tests.emulator.fixtures import binance_emulator  # noqa: F401
from tests.support.app import AUTH, TOKEN, make_app, make_settings
from tests.support.server import running_server

REST_WATCH_TIMEOUT = 20.0
"""Long, so that a watch that waits for it instead of refusing at once fails the test."""

CONFIG = {"exchangeId": "binance", "ccxtType": "pro"}


@pytest.fixture
def pro_app(binance_emulator: BinanceEmulator) -> Application:  # noqa: F811
    settings = make_settings(streams={"rest_watch_timeout_seconds": REST_WATCH_TIMEOUT})
    settings.exchanges["binance"] = ExchangeSettings(ccxt=binance_emulator.overrides(pro=True))
    settings.ccxt.enable_rate_limit = False
    return make_app(settings, [CcxtBackend(settings)])


@pytest.fixture
async def base_url(pro_app: Application) -> AsyncIterator[str]:
    async with running_server(pro_app) as url:
        yield url


async def rest(base_url: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    async with httpx.AsyncClient(headers=AUTH, timeout=REST_WATCH_TIMEOUT + 10) as client:
        response = await client.post(f"{base_url}/api/exchange/{path}", json=body)
    return response.status_code, response.json(), time.monotonic() - started


ANSWERS = ("subscription_error", "subscribed")


async def subscription_answer(base_url: str, payload: dict[str, Any]) -> tuple[str, Any]:
    """The first of ``subscribed`` / ``subscription_error`` the server sends."""
    client = EventClient()
    await client.connect(base_url, auth={"token": TOKEN})
    try:
        await client.emit("subscribe", payload)
        event: str = await eventually(
            lambda: next((e for e in ANSWERS if not client.queues[e].empty()), None),
            timeout=10,
            message="an answer to subscribe",
        )
        return event, client.queues[event].get_nowait()
    finally:
        await client.close()


CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any] | None]] = [
    # (name, fetch path, watch path, request body beyond config, subscribe payload beyond ids)
    (
        "unsupported timeframe",
        "fetchOHLCV",
        "watchOHLCV",
        {"symbol": "BTC/USDT", "timeframe": "7m"},
        {"dataType": "ohlcv", "symbol": "BTC/USDT", "timeframe": "7m"},
    ),
    (
        "unlisted symbol (ticker)",
        "fetchTicker",
        "watchTicker",
        {"symbol": "NOPE/USDT"},
        {"dataType": "ticker", "symbol": "NOPE/USDT"},
    ),
    (
        "unlisted symbol (trades)",
        "fetchTrades",
        "watchTrades",
        {"symbol": "NOPE/USDT"},
        {"dataType": "trades", "symbol": "NOPE/USDT"},
    ),
    (
        "malformed timeframe",
        "fetchOHLCV",
        "watchOHLCV",
        {"symbol": "BTC/USDT", "timeframe": "1 m"},
        {"dataType": "ohlcv", "symbol": "BTC/USDT", "timeframe": "1 m"},
    ),
    (
        "reserved params key",
        "fetchTicker",
        "watchTicker",
        {"symbol": "BTC/USDT", "params": {"symbol": "ETHUSDT"}},
        {"dataType": "ticker", "symbol": "BTC/USDT", "params": {"symbol": "ETHUSDT"}},
    ),
    (
        "limit below one",
        "fetchOrderBook",
        "watchOrderBook",
        {"symbol": "BTC/USDT", "limit": 0},
        None,
    ),
    (
        "unknown market type",
        "fetchTicker",
        "watchTicker",
        {"symbol": "BTC/USDT", "config": {**CONFIG, "marketType": "options"}},
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "fetch", "watch", "body", "subscribe"), CASES, ids=[c[0] for c in CASES]
)
async def test_watch_and_subscribe_refuse_like_fetch(
    base_url: str,
    name: str,
    fetch: str,
    watch: str,
    body: dict[str, Any],
    subscribe: dict[str, Any] | None,
) -> None:
    fetch_status, fetch_body, _ = await rest(base_url, fetch, {"config": CONFIG, **body})
    watch_status, watch_body, took = await rest(base_url, watch, {"config": CONFIG, **body})
    assert fetch_status == 400, fetch_body
    assert (watch_status, watch_body["details"], watch_body["errorType"]) == (
        fetch_status,
        fetch_body["details"],
        fetch_body["errorType"],
    ), (fetch_body, watch_body)
    assert took < REST_WATCH_TIMEOUT / 2, f"{watch} waited {took:.1f}s before refusing"
    if subscribe is None:  # a subscription has no such field
        return
    event, answer = await subscription_answer(
        base_url, {"exchangeId": "binance", "config": CONFIG, **subscribe}
    )
    assert event == "subscription_error", answer
    assert answer["error"] == fetch_body["details"]


async def test_positive_control_the_same_paths_accept_a_valid_ohlcv_request(base_url: str) -> None:
    body = {"config": CONFIG, "symbol": "BTC/USDT", "timeframe": "1m", "limit": 2}
    fetch_status, fetch_body, _ = await rest(base_url, "fetchOHLCV", body)
    assert fetch_status == 200 and fetch_body["data"], fetch_body
    event, answer = await subscription_answer(
        base_url,
        {
            "exchangeId": "binance",
            "config": CONFIG,
            "dataType": "ohlcv",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
        },
    )
    assert event == "subscribed" and answer["timeframe"] == "1m", answer


@pytest.mark.parametrize("timeframe", ["7m", "2s", "1y"])
async def test_fake_backend_refuses_an_unoffered_timeframe_before_subscribed(
    server_url: str, timeframe: str
) -> None:
    """Another backend, other unoffered timeframes: the same rule on all three paths."""
    config = {"exchangeId": "fake", "ccxtType": "pro"}
    body = {"config": config, "symbol": "BTC/USDT", "timeframe": timeframe}
    fetch_status, fetch_body, _ = await rest(server_url, "fetchOHLCV", body)
    watch_status, watch_body, took = await rest(server_url, "watchOHLCV", body)
    expected = f"fake does not support timeframe {timeframe} (supported: "
    assert fetch_status == watch_status == 400
    assert fetch_body["details"] == watch_body["details"] and watch_body["details"].startswith(
        expected
    )
    assert took < REST_WATCH_TIMEOUT / 2
    event, answer = await subscription_answer(
        server_url,
        {
            "exchangeId": "fake",
            "config": config,
            "dataType": "ohlcv",
            "symbol": "BTC/USDT",
            "timeframe": timeframe,
        },
    )
    assert (event, answer["error"]) == ("subscription_error", watch_body["details"])
    assert answer["timeframe"] == timeframe  # the refusal echoes the request as sent


async def test_every_symbol_form_fetch_resolves_streams_and_is_echoed_as_sent(
    base_url: str,
    binance_emulator: BinanceEmulator,  # noqa: F811
) -> None:
    """ccxt resolves the market id BTCUSDT: so do watch and subscribe, sharing one upstream."""
    fetch_status, fetch_body, _ = await rest(
        base_url, "fetchTicker", {"config": CONFIG, "symbol": "BTCUSDT"}
    )
    assert fetch_status == 200 and fetch_body["data"]["symbol"] == "BTC/USDT"
    clients = []
    try:
        for symbol in ("BTCUSDT", "BTC/USDT"):
            client = EventClient()
            await client.connect(base_url, auth={"token": TOKEN})
            clients.append(client)
            await client.emit(
                "subscribe",
                {"exchangeId": "binance", "config": CONFIG, "dataType": "ticker", "symbol": symbol},
            )
            subscribed = await client.expect("subscribed", timeout=8)
            assert subscribed["symbol"] == symbol
            assert subscribed["subscriptionId"].endswith(f":binance:{symbol}:ticker")
        by_id, by_symbol = clients
        assert (await by_id.expect("data", timeout=8))["symbol"] == "BTCUSDT"
        assert (await by_symbol.expect("data", timeout=8))["symbol"] == "BTC/USDT"
        watch_status, watch_body, _ = await rest(
            base_url, "watchTicker", {"config": CONFIG, "symbol": "BTCUSDT"}
        )
        assert watch_status == 200 and watch_body["data"]["symbol"] == "BTC/USDT"
        assert binance_emulator.ws.subscribe_count("btcusdt@miniTicker") == 1  # one upstream
    finally:
        for client in clients:
            await client.close()


@pytest.mark.parametrize("symbol", ["btcusdt", "BTC-USDT", "BTC/USDT/X"])
async def test_symbol_forms_fetch_refuses_are_refused_alike(base_url: str, symbol: str) -> None:
    fetch_status, fetch_body, _ = await rest(
        base_url, "fetchTicker", {"config": CONFIG, "symbol": symbol}
    )
    watch_status, watch_body, _ = await rest(
        base_url, "watchTicker", {"config": CONFIG, "symbol": symbol}
    )
    assert fetch_status == watch_status == 400
    assert (
        fetch_body["details"]
        == watch_body["details"]
        == f"binance does not have market symbol {symbol}"
    )
    event, answer = await subscription_answer(
        base_url,
        {"exchangeId": "binance", "config": CONFIG, "dataType": "ticker", "symbol": symbol},
    )
    assert (event, answer["error"]) == ("subscription_error", fetch_body["details"])
