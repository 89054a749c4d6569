"""Issue 12 item 4 end to end: three app instances (each its own container) on one Redis, real
ccxt binance against the loopback emulator, which counts weight per IP (all three are
127.0.0.1) and answers 429/418 over its limit as binance does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx

from app.adapters.ccxt.backend import CcxtBackend
from app.settings import ExchangeSettings, Settings
from app.testing import eventually
from tests.emulator.binance import API_KEY, SECRET, BinanceEmulator
from tests.support.app import AUTH, make_app, make_settings
from tests.support.redis_server import RedisServer
from tests.support.server import served_client

Client = httpx.AsyncClient
TICKER = {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"}


@asynccontextmanager
async def cluster(
    emulator: BinanceEmulator,
    redis_url: str,
    nodes: int = 3,
    configure: Callable[[Settings], None] | None = None,
) -> AsyncIterator[list[Client]]:
    """``nodes`` servers on real uvicorn in this loop, all with the same Redis and config."""
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(nodes):
            settings = make_settings()
            settings.cluster.redis_url = redis_url
            settings.exchanges["binance"] = ExchangeSettings(ccxt=emulator.overrides())
            settings.ccxt.enable_rate_limit = True
            if configure is not None:
                configure(settings)
            app = make_app(settings, [CcxtBackend(settings)])
            clients.append(await stack.enter_async_context(served_client(app)))
        yield clients


async def post(client: Client, path: str, body: Any) -> httpx.Response:
    return await client.post(f"/api/exchange/{path}", json=body, headers=AUTH)


async def test_nodes_together_stay_inside_one_exchange_budget(redis_url: str) -> None:
    # 120 weight per minute for the IP: three market loads (3 x 22) leave room for about
    # 24 tickers (2 each); 60 different tickers at once from three nodes would need 120.
    async with (
        BinanceEmulator(symbols=64, weight_limit=120) as emulator,
        cluster(
            emulator, redis_url, configure=lambda s: setattr(s.budget, "max_queue_wait_ms", 0)
        ) as nodes,
    ):
        for node in nodes:
            assert (await post(node, "instance", {"exchangeId": "binance"})).status_code == 200
        symbols = [f"{base}/USDT" for base in emulator.bases[:60]]
        answers = await asyncio.gather(
            *(
                post(nodes[i % 3], "fetchTicker", {**TICKER, "symbol": symbol})
                for i, symbol in enumerate(symbols)
            )
        )
        statuses = [r.status_code for r in answers]
        assert 200 in statuses and 429 in statuses and set(statuses) <= {200, 429}
        refused = answers[statuses.index(429)].json()
        assert refused["errorType"] == "RateLimitExceeded"
        assert emulator.weights.statuses[429] == 0 and emulator.weights.statuses[418] == 0
        page = (await nodes[1].get("/api/budget", headers=AUTH)).json()["data"]["exchanges"]
        binance = page["binance"]
        spot = binance["families"]["api"]
        assert binance["shared"] is True and binance["nodesSharing"] == 3
        assert spot["weightPerMinute"] == 120 and spot["limitSource"] == "exchangeInfo"
        # The cluster's count: every node's requests (markets too), not only node 1's.
        assert emulator.count("/ticker/24hr") == statuses.count(200)
        spot_sent = sum(n for path, n in emulator.counts.items() if path.startswith("/api/"))
        assert spot["requests"] == spot_sent
        assert spot["refused"] == statuses.count(429)


async def test_a_429_on_one_node_stops_every_node_until_retry_after(redis_url: str) -> None:
    async with BinanceEmulator() as emulator, cluster(emulator, redis_url) as nodes:
        for node in nodes:
            assert (await post(node, "instance", {"exchangeId": "binance"})).status_code == 200
        emulator.fail("ticker/24hr", "rate_limit")  # 429 with Retry-After: 1
        first = await post(nodes[0], "fetchTicker", TICKER)
        assert first.status_code == 429
        sent = sum(emulator.counts.values())
        later = await asyncio.gather(
            post(nodes[1], "fetchTicker", {**TICKER, "symbol": "ETH/USDT"}),
            post(nodes[2], "fetchOrderBook", {**TICKER, "limit": 5}),
        )
        assert [r.status_code for r in later] == [429, 429]
        assert all(r.json()["errorType"] == "RateLimitExceeded" for r in later)
        assert all(r.headers["Retry-After"] == "1" for r in later)
        assert sum(emulator.counts.values()) == sent  # nothing reached the exchange
        page = (await nodes[2].get("/api/budget", headers=AUTH)).json()["data"]["exchanges"]
        assert page["binance"]["stops"] == {"429": 1}

        async def served() -> bool:
            again = await post(nodes[2], "fetchTicker", {**TICKER, "symbol": "ETH/USDT"})
            return again.status_code == 200

        # Positive control: after Retry-After (1 s), reads flow again on the other nodes.
        await eventually(served, timeout=5, interval=0.05, message="reads flow after Retry-After")
        assert emulator.weights.statuses[418] == 0


async def test_identical_reads_across_nodes_make_one_exchange_call(redis_url: str) -> None:
    async with BinanceEmulator() as emulator, cluster(emulator, redis_url) as nodes:
        for node in nodes:
            assert (await post(node, "instance", {"exchangeId": "binance"})).status_code == 200
        answers = await asyncio.gather(
            *(post(nodes[i % 3], "fetchTicker", TICKER) for i in range(48))  # c16 per node
        )
        assert {r.status_code for r in answers} == {200}
        assert emulator.count("/ticker/24hr") == 1
        sources = [r.headers["X-Data-Source"] for r in answers]
        assert sources.count("exchange") == 1 and set(sources) <= {"exchange", "coalesced", "cache"}
        assert len({r.text for r in answers}) == 1  # one body everywhere


async def test_one_exchange_call_per_max_age_window_for_the_cluster(redis_url: str) -> None:
    async with (
        BinanceEmulator() as emulator,
        cluster(
            emulator, redis_url, configure=lambda s: s.budget.max_age_ms.update(ticker=60_000)
        ) as nodes,
    ):
        first = await post(nodes[0], "fetchTicker", TICKER)
        later = [await post(node, "fetchTicker", TICKER) for node in nodes[1:]]
        assert [r.headers["X-Data-Source"] for r in [first, *later]] == [
            "exchange",
            "cache",
            "cache",
        ]
        assert all(r.json() == first.json() for r in later)
        assert emulator.count("/ticker/24hr") == 1
        # Positive control: a reader asking for nothing older than 0 ms gets a new call.
        fresh = await post(nodes[2], "fetchTicker", {**TICKER, "maxAgeMs": 0})
        assert fresh.headers["X-Data-Source"] == "exchange"
        assert emulator.count("/ticker/24hr") == 2


async def test_no_credential_reaches_redis(redis_url: str) -> None:
    from redis.asyncio import Redis

    accounts = {API_KEY: SECRET, "key-b": "secret-b-0123456789"}
    async with (
        BinanceEmulator(accounts=accounts) as emulator,
        cluster(emulator, redis_url) as nodes,
    ):
        for i, (key, secret) in enumerate(accounts.items()):
            keyed = {"exchangeId": "binance", "apiKey": key, "secret": secret}
            for node in nodes:
                assert (await post(node, "fetchBalance", {"config": keyed})).status_code == 200
            ticker = {"config": keyed, "symbol": f"{('BTC', 'ETH')[i]}/USDT"}
            assert (await post(nodes[i], "fetchTicker", ticker)).status_code == 200
        for node in nodes:
            await node.get("/api/budget", headers=AUTH)  # drains each node's pending writes
    client = Redis.from_url(redis_url)
    try:
        keys = await client.keys("*")
        assert any(k.startswith(b"pm:read:binance:fetchTicker:") for k in keys)  # control
        dump = b"".join(keys)
        for k in keys:
            if await client.type(k) == b"string":
                dump += await client.get(k) or b""
            elif await client.type(k) == b"hash":
                dump += b"".join(b"".join(kv) for kv in (await client.hgetall(k)).items())
        for key, secret in accounts.items():
            assert key.encode() not in dump and secret.encode() not in dump
    finally:
        await client.aclose()


async def test_redis_away_nodes_keep_serving_then_share_again(
    own_redis_server: RedisServer,
) -> None:
    def long_ticker_age(settings: Settings) -> None:
        settings.budget.max_age_ms["ticker"] = 60_000

    async with (
        BinanceEmulator(symbols=16) as emulator,
        cluster(emulator, own_redis_server.url, 2, long_ticker_age) as nodes,
    ):
        for node in nodes:
            assert (await post(node, "instance", {"exchangeId": "binance"})).status_code == 200
        assert (await post(nodes[0], "fetchTicker", TICKER)).status_code == 200
        own_redis_server.kill()
        # Every read is still answered (own limiter share, own call, own copy), none hangs.
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    post(nodes[i % 2], "fetchTicker", {**TICKER, "symbol": s})
                    for i, s in enumerate(["ETH/USDT", "ETH/USDT", "BTC/USDT", "BTC/USDT"])
                )
            ),
            20,
        )
        assert [r.status_code for r in answers] == [200, 200, 200, 200]
        page = (await nodes[0].get("/api/budget", headers=AUTH)).json()["data"]["exchanges"]
        assert page["binance"]["shared"] is False
        own_redis_server.start()

        async def shared_again() -> bool:
            await post(nodes[0], "fetchTicker", {**TICKER, "maxAgeMs": 0})
            page = (await nodes[0].get("/api/budget", headers=AUTH)).json()["data"]
            return bool(page["exchanges"]["binance"]["shared"])

        await eventually(shared_again, timeout=10, interval=0.2, message="budget shared again")
        # And answers are shared again: node 0's new read answers node 1 from Redis.
        fresh = {**TICKER, "symbol": f"{emulator.bases[7]}/USDT"}
        before = emulator.count("/ticker/24hr")
        first = await post(nodes[0], "fetchTicker", fresh)
        second = await post(nodes[1], "fetchTicker", fresh)
        assert [first.headers["X-Data-Source"], second.headers["X-Data-Source"]] == [
            "exchange",
            "cache",
        ]
        assert emulator.count("/ticker/24hr") == before + 1
