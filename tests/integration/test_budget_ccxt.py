"""Issue 9 end to end: the server on real ccxt binance against the loopback emulator.

Coalescing and freshness (one exchange call for many identical reads, whoever asks), the
source headers, the shared limiter learning the emulator's published limit and used weight,
stopping on 429 before the IP is banned, and GET /api/budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.adapters.ccxt.backend import CcxtBackend
from app.settings import ExchangeSettings, Settings
from app.testing import eventually
from tests.emulator.binance import API_KEY, SECRET, BinanceEmulator
from tests.support.app import AUTH, make_app, make_settings
from tests.support.server import served_client

Client = httpx.AsyncClient
TICKER = {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"}


@asynccontextmanager
async def server(
    emulator: BinanceEmulator, configure: Callable[[Settings], None] | None = None
) -> AsyncIterator[Client]:
    settings = make_settings()
    settings.exchanges["binance"] = ExchangeSettings(ccxt=emulator.overrides())
    settings.ccxt.enable_rate_limit = True  # the only safe mode against a real exchange
    if configure is not None:
        configure(settings)
    async with served_client(make_app(settings, [CcxtBackend(settings)])) as client:
        yield client


async def post(client: Client, path: str, body: Any) -> httpx.Response:
    return await client.post(f"/api/exchange/{path}", json=body, headers=AUTH)


async def test_fifty_concurrent_identical_reads_make_one_exchange_call() -> None:
    async with BinanceEmulator() as emulator, server(emulator) as client:
        assert (await post(client, "instance", {"exchangeId": "binance"})).status_code == 200
        responses = await asyncio.gather(*(post(client, "fetchTicker", TICKER) for _ in range(50)))
        assert {r.status_code for r in responses} == {200}
        assert emulator.count("/ticker/24hr") == 1
        sources = sorted(r.headers["X-Data-Source"] for r in responses)
        assert sources.count("exchange") == 1 and set(sources) <= {"exchange", "coalesced", "cache"}
        assert all(int(r.headers["X-Data-Age-Ms"]) >= 0 for r in responses)
        assert len({r.text for r in responses}) == 1  # one body for all, the contract's shape
        assert responses[0].json()["data"]["symbol"] == "BTC/USDT"


async def test_public_reads_are_shared_across_credentials_private_ones_are_not() -> None:
    accounts = {f"key-{i}": f"secret-{i}" for i in range(3)}
    async with BinanceEmulator(accounts=accounts) as emulator, server(emulator) as client:
        await post(client, "instance", {"exchangeId": "binance"})
        bodies = [
            {"config": {"exchangeId": "binance", "apiKey": k, "secret": s}, "symbol": "BTC/USDT"}
            for k, s in accounts.items()
        ]
        responses = await asyncio.gather(*(post(client, "fetchTicker", b) for b in bodies))
        assert {r.status_code for r in responses} == {200} and emulator.count("/ticker/24hr") == 1
        balance = [{"config": b["config"]} for b in bodies]
        same_key = await asyncio.gather(
            *(post(client, "fetchBalance", balance[0]) for _ in range(5))
        )
        assert {r.status_code for r in same_key} == {200}
        assert emulator.count("/account") == 1  # one account, five readers: one call
        others = await asyncio.gather(*(post(client, "fetchBalance", b) for b in balance[1:]))
        assert {r.status_code for r in others} == {200}
        assert emulator.count("/account") == 3  # never shared across accounts
        assert others[0].json() == others[1].json()  # (the emulator's accounts are alike)


async def test_freshness_window_and_max_age_ms() -> None:
    async with (
        BinanceEmulator() as emulator,
        server(emulator, lambda s: s.budget.max_age_ms.update(ticker=60_000)) as client,
    ):
        first = await post(client, "fetchTicker", TICKER)
        again = await post(client, "fetchTicker", TICKER)
        assert (first.headers["X-Data-Source"], again.headers["X-Data-Source"]) == (
            "exchange",
            "cache",
        )
        assert again.json() == first.json() and emulator.count("/ticker/24hr") == 1
        fresh = await post(client, "fetchTicker", {**TICKER, "maxAgeMs": 0})
        assert fresh.headers["X-Data-Source"] == "exchange" and emulator.count("/ticker/24hr") == 2
        bad = await post(client, "fetchTicker", {**TICKER, "maxAgeMs": -1})
        assert bad.status_code == 400 and bad.json()["error"] == "Failed to fetch ticker"


async def test_disabled_budget_sends_every_read() -> None:
    async with (
        BinanceEmulator() as emulator,
        server(emulator, lambda s: setattr(s.budget, "enabled", False)) as client,
    ):
        await post(client, "instance", {"exchangeId": "binance"})
        responses = await asyncio.gather(*(post(client, "fetchTicker", TICKER) for _ in range(5)))
        assert {r.headers["X-Data-Source"] for r in responses} == {"exchange"}
        assert emulator.count("/ticker/24hr") == 5


async def test_the_limiter_stops_before_the_published_limit_the_ip_is_never_refused() -> None:
    # 60 weight per minute: markets (20 spot + 1 + 1) leave room for about 16 tickers (2 each).
    async with (
        BinanceEmulator(symbols=40, weight_limit=60) as emulator,
        server(emulator, lambda s: setattr(s.budget, "max_queue_wait_ms", 0)) as client,
    ):
        await post(client, "instance", {"exchangeId": "binance"})
        symbols = [f"{base}/USDT" for base in emulator.bases]
        # one after another, bounded: 40 requests
        answers = [await post(client, "fetchTicker", {**TICKER, "symbol": s}) for s in symbols]
        statuses = [r.status_code for r in answers]
        assert 200 in statuses and 429 in statuses and set(statuses) <= {200, 429}
        refused = answers[statuses.index(429)]
        assert refused.json()["errorType"] == "RateLimitExceeded"
        assert refused.json()["error"] == "Failed to fetch ticker"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert emulator.weights.statuses[429] == 0 and emulator.weights.statuses[418] == 0
        budget = (await client.get("/api/budget", headers=AUTH)).json()["data"]
        spot = budget["exchanges"]["binance"]["families"]["api"]
        assert spot["weightPerMinute"] == 60 and spot["limitSource"] == "exchangeInfo"
        assert spot["refused"] >= 1 and spot["exchangeReportedUsed"] is not None


async def test_a_429_stops_every_instance_until_retry_after_no_418() -> None:
    async with (
        BinanceEmulator(accounts={"key-b": "secret-b"}) as emulator,
        server(emulator) as client,
    ):
        await post(client, "instance", {"exchangeId": "binance"})
        emulator.fail("ticker/24hr", "rate_limit")  # 429 with Retry-After: 1
        first = await post(client, "fetchTicker", TICKER)
        assert first.status_code == 429
        sent = sum(emulator.counts.values())
        keyed = {"exchangeId": "binance", "apiKey": "key-b", "secret": "secret-b"}
        later = await asyncio.gather(
            post(client, "fetchTicker", {"config": keyed, "symbol": "ETH/USDT"}),
            post(client, "fetchOrderBook", {**TICKER, "limit": 5}),
            post(client, "fetchBalance", {"config": keyed}),
        )
        assert [r.status_code for r in later] == [429, 429, 429]
        assert all(r.json()["errorType"] == "RateLimitExceeded" for r in later)
        assert all(r.headers["Retry-After"] == "1" for r in later)
        assert sum(emulator.counts.values()) == sent  # nothing reached the exchange
        budget = (await client.get("/api/budget", headers=AUTH)).json()["data"]["exchanges"]
        assert budget["binance"]["stops"] == {"429": 1}
        assert budget["binance"]["stoppedSecondsTotal"] >= 1

        async def served() -> bool:
            again = await post(client, "fetchTicker", {**TICKER, "symbol": "ETH/USDT"})
            return again.status_code == 200

        # Positive control: after Retry-After (1 s), reads flow again.
        await eventually(served, timeout=5, interval=0.05, message="reads flow after Retry-After")
        assert emulator.weights.statuses[418] == 0


async def test_budget_page_needs_the_token_and_shows_no_credential() -> None:
    async with BinanceEmulator() as emulator, server(emulator) as client:
        keyed = {"exchangeId": "binance", "apiKey": API_KEY, "secret": SECRET}
        assert (await post(client, "fetchBalance", {"config": keyed})).status_code == 200
        await asyncio.gather(*(post(client, "fetchTicker", TICKER) for _ in range(3)))
        assert (await client.get("/api/budget")).status_code == 401
        page = await client.get("/api/budget", headers=AUTH)
        assert page.status_code == 200
        binance = page.json()["data"]["exchanges"]["binance"]
        assert binance["reads"]["exchange"] >= 2 and binance["requests"] >= 4
        assert API_KEY not in page.text and SECRET not in page.text and "cred-" not in page.text
