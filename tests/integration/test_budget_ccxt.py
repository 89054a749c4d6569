"""Issue 9 end to end: the server on real ccxt binance against the loopback emulator.

Coalescing and freshness (one exchange call for many identical reads, whoever asks), the
source headers, the shared limiter learning the emulator's published limit and used weight,
stopping on 429 before the IP is banned, and GET /api/budget.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from app.adapters.ccxt.backend import CcxtBackend
from app.domain.budget.reads import ReadBudget
from app.entrypoints.asgi import Application, create_app
from app.ports.clock import Clock
from app.settings import ExchangeSettings, Settings
from app.testing import eventually
from tests.emulator.binance import API_KEY, SECRET, BinanceEmulator
from tests.support.app import AUTH, make_container, make_settings
from tests.support.clock import MinuteStartClock
from tests.support.server import served_client

Client = httpx.AsyncClient
TICKER = {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"}


@asynccontextmanager
async def served_app(
    emulator: BinanceEmulator,
    configure: Callable[[Settings], None] | None = None,
    *,
    clock: Clock | None = None,
) -> AsyncIterator[tuple[Client, Application]]:
    settings = make_settings()
    settings.exchanges["binance"] = ExchangeSettings(ccxt=emulator.overrides())
    settings.ccxt.enable_rate_limit = True  # the only safe mode against a real exchange
    if configure is not None:
        configure(settings)
    container = make_container(settings, [CcxtBackend(settings)])
    if clock is not None:
        container.clock.override(providers.Object(clock))
    application = create_app(settings, container)
    async with served_client(application) as client:
        yield client, application


@asynccontextmanager
async def server(
    emulator: BinanceEmulator, configure: Callable[[Settings], None] | None = None
) -> AsyncIterator[Client]:
    async with served_app(emulator, configure) as (client, _):
        yield client


def count_readers(application: Application, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Reads that reached the server's ReadBudget, by data type, counted as they enter it.

    ``ReadBudget.read`` joins (or starts) the shared call before its first ``await``, so a
    reader counted here while the exchange call is held has joined that call or made its own.
    """
    budget: ReadBudget = application.container.read_budget()
    entered: Counter[str] = Counter()
    read = budget.read

    async def counted(key: Any, fetch: Any, **kwargs: Any) -> Any:
        entered[key.data_type] += 1
        return await read(key, fetch, **kwargs)

    monkeypatch.setattr(budget, "read", counted)
    return entered


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


async def test_public_reads_are_shared_across_credentials_private_ones_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each exchange call is held at the emulator until every reader is in the server, so the
    # readers overlap by construction, not by how fast a loaded machine happens to be.
    accounts = {f"key-{i}": f"secret-{i}" for i in range(3)}
    async with (
        BinanceEmulator(accounts=accounts) as emulator,
        served_app(emulator) as (client, application),
    ):
        await post(client, "instance", {"exchangeId": "binance"})
        readers = count_readers(application, monkeypatch)
        bodies = [
            {"config": {"exchangeId": "binance", "apiKey": k, "secret": s}, "symbol": "BTC/USDT"}
            for k, s in accounts.items()
        ]
        tickers = emulator.hold("/ticker/24hr")
        pending = [asyncio.create_task(post(client, "fetchTicker", b)) for b in bodies]
        await eventually(
            lambda: readers["ticker"] == 3 and tickers.waiting >= 1,
            timeout=10,
            message="3 ticker readers in the server, the exchange call held",
        )
        assert emulator.count("/ticker/24hr") == 1  # three credentials, one public call
        tickers.release()
        responses = await asyncio.gather(*pending)
        assert {r.status_code for r in responses} == {200} and emulator.count("/ticker/24hr") == 1

        balance = [{"config": b["config"]} for b in bodies]
        accounts_held = emulator.hold("/account")
        same_key = [asyncio.create_task(post(client, "fetchBalance", balance[0])) for _ in range(5)]
        await eventually(
            lambda: readers["balance"] == 5 and accounts_held.waiting >= 1,
            timeout=10,
            message="5 balance readers of one account in the server, the call held",
        )
        assert emulator.count("/account") == 1  # one account, five readers: one call
        others = [asyncio.create_task(post(client, "fetchBalance", b)) for b in balance[1:]]
        # Positive control of the hold: other accounts' calls reach the exchange meanwhile.
        await eventually(
            lambda: readers["balance"] == 7 and accounts_held.waiting == 3,
            timeout=10,
            message="two more accounts' calls held beside the first",
        )
        assert emulator.count("/account") == 3  # never shared across accounts
        accounts_held.release()
        assert {r.status_code for r in await asyncio.gather(*same_key)} == {200}
        answered = await asyncio.gather(*others)
        assert {r.status_code for r in answered} == {200}
        assert emulator.count("/account") == 3
        assert answered[0].json() == answered[1].json()  # (the emulator's accounts are alike)


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
    # Everything below must happen in one UTC-minute window (a new window empties both the
    # emulator's count and ours: no refusal, or no reported weight left to show), so the server
    # and the emulator share a clock that starts one second into a minute.
    clock = MinuteStartClock(into=1.0)

    def no_wait(settings: Settings) -> None:
        settings.budget.max_queue_wait_ms = 0

    async with (
        BinanceEmulator(symbols=40, weight_limit=60) as emulator,
        served_app(emulator, no_wait, clock=clock) as (client, _),
    ):
        emulator.weights.clock = clock.time
        started = clock.time()
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
        assert clock.time() - started < 59, "the premise: all of it in one minute window"


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
