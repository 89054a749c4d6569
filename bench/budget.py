"""Issue 9 benchmark: the read budget (coalescing, freshness, shared limiter) before and after.

    .venv/bin/python -m bench.budget            # about a minute
    .venv/bin/python -m bench.budget --seconds 1   # shorter load phases, same tables
    .venv/bin/python -m bench.budget --cluster-only   # 3 nodes: own budgets vs Redis (issue 12)

Everything runs on 127.0.0.1: the binance emulator (``tests.emulator``) in a child process,
the server as a child via its CLI (ccxt throttle ON: ``enableRateLimit = true``, the only safe
mode against a real exchange), this process as the load client. "before" is the same server
with ``[budget] enabled = false``: one exchange call per read and one ccxt throttle per
instance, as the original behaves. Every load loop is bounded by a request count and a time
budget; children are stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import signal
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/budget.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rest_loadgen import Connection, build_request, open_connections, run_load
from bench.rest_procs import (
    HOST,
    REPO,
    EmulatorProcess,
    ServerProcess,
    _die_with_parent,
    _strip_none,
    toml_document,
)
from bench.rest_report import machine_header, table

MODES = ("before", "after")
HERD_KEYS = 40
HERD_WEIGHT_LIMIT = 600
CLUSTER_NODES = 3
SYMBOLS = 64
MAX_REQUESTS = 200_000  # per load phase; the time budget ends it first
ORIGINAL = "original (issue 9): 50 req/s, p50 320 ms, 150 calls"


class BudgetEmulator(EmulatorProcess):
    """The bench emulator with a per-IP weight limit and extra API keys."""

    def __init__(self, symbols: int, *, weight_limit: int | None = None, accounts: int = 0) -> None:
        super().__init__(symbols)
        self.weight_limit = weight_limit
        self.accounts = accounts

    async def start(self) -> None:
        args = ["--symbols", str(self.symbols), "--accounts", str(self.accounts)]
        if self.weight_limit is not None:
            args += ["--weight-limit", str(self.weight_limit)]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.rest_emulator",
            *args,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        hello = await self._line(timeout=60)
        self.base_url = hello["base_url"]

    async def stats(self) -> dict[str, Any]:
        return await self.command("stats")


def config_text(
    base_url: str, *, enabled: bool, pro: bool = False, redis_url: str | None = None
) -> str:
    from tests.emulator.overrides import emulator_overrides

    overrides = _strip_none(emulator_overrides(base_url, "binance", pro=pro))
    if pro:  # binance's full ticker channel: bid/ask, so tickers can be served from streams
        overrides["options"]["watchTickers"] = {"name": "ticker"}
    sections: dict[str, dict[str, Any]] = {
        "": {"log_level": "warning"},
        "ccxt": {"enable_rate_limit": True},
        "budget": {"enabled": enabled},
        "exchanges.binance": {"ccxt": overrides},
    }
    if redis_url is not None:
        sections["cluster"] = {"redis_url": redis_url}
    text = toml_document(sections)
    if tomllib.loads(text)["exchanges"]["binance"]["ccxt"] != overrides:
        raise AssertionError("TOML writer lost part of the ccxt overrides")
    return text


def ticker_calls(stats: dict[str, Any]) -> int:
    return sum(n for path, n in stats["counts"].items() if path.endswith("/ticker/24hr"))


def rest_calls(stats: dict[str, Any]) -> int:
    """Every emulator request except market loading (exchangeInfo)."""
    return sum(n for path, n in stats["counts"].items() if not path.endswith("/exchangeInfo"))


class Server:
    """A started server plus request builders (token in every request)."""

    def __init__(self, process: ServerProcess, token: str) -> None:
        self.process = process
        self.token = token

    def request(self, path: str, body: Any) -> bytes:
        headers = {"Authorization": f"Bearer {self.token}"}
        return build_request("POST", HOST, self.process.port, path, body, headers)

    async def one(self, path: str, body: Any) -> tuple[int, bytes]:
        conn = await Connection.open(HOST, self.process.port)
        try:
            return await conn.request(self.request(path, body))
        finally:
            await conn.close()


async def started_server(
    base_url: str, mode: str, token: str, *, pro: bool = False, redis_url: str | None = None
) -> Server:
    config = config_text(base_url, enabled=mode == "after", pro=pro, redis_url=redis_url)
    process = ServerProcess(config, token)
    await process.start()
    server = Server(process, token)
    status, body = await server.one("/api/exchange/instance", {"exchangeId": "binance"})
    if status != 200:
        await process.stop()
        raise RuntimeError(f"instance failed: {status} {body[:200]!r}")
    return server


def ticker_body(symbol: str, key: int | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"exchangeId": "binance"}
    if key is not None:
        config |= {"apiKey": f"bench-key-{key}", "secret": f"bench-secret-{key}"}
    return {"config": config, "symbol": symbol}


async def section_throughput(
    emulator: BudgetEmulator, token: str, bases: list[str], seconds: float
) -> list[str]:
    """c16 identical, c16 over 16 symbols, and one burst of 50 identical reads."""
    rows_same: list[list[Any]] = []
    rows_many: list[list[Any]] = []
    rows_burst: list[list[Any]] = []
    for mode in MODES:
        server = await started_server(emulator.base_url, mode, token)
        try:
            for rows, symbols in (
                (rows_same, ["BTC/USDT"] * 16),
                (rows_many, [f"{b}/USDT" for b in bases[:16]]),
            ):
                conns = await open_connections(HOST, server.process.port, 16)
                try:
                    calls = [
                        c.caller(server.request("/api/exchange/fetchTicker", ticker_body(s)))
                        for c, s in zip(conns, symbols, strict=True)
                    ]
                    await asyncio.sleep(1.1)  # past every freshness window: a cold start
                    await emulator.reset()
                    result = await run_load(calls, max_requests=MAX_REQUESTS, max_seconds=seconds)
                    stats = await emulator.stats()
                finally:
                    for conn in conns:
                        await conn.close()
                rows.append(
                    [
                        mode,
                        result.rps,
                        result.pct_ms(50),
                        result.pct_ms(99),
                        result.completed,
                        result.errors,
                        ticker_calls(stats),
                    ]
                )
            await asyncio.sleep(1.1)
            await emulator.reset()
            conns = await open_connections(HOST, server.process.port, 50)
            try:
                data = server.request("/api/exchange/fetchTicker", ticker_body("ETH/USDT"))
                began = time.perf_counter()
                answers = await asyncio.gather(*(c.request(data) for c in conns))
                burst_ms = (time.perf_counter() - began) * 1000
            finally:
                for conn in conns:
                    await conn.close()
            stats = await emulator.stats()
            ok = sum(1 for status, _ in answers if status == 200)
            rows_burst.append([mode, ok, burst_ms, ticker_calls(stats)])
        finally:
            await server.process.stop()
    headers = ["mode", "req/s", "p50 ms", "p99 ms", "answers", "errors", "exchange calls"]
    ratio = rows_same[1][1] / rows_same[0][1] if rows_same[0][1] else float("nan")
    return [
        table(
            f"c16 identical fetchTicker BTC/USDT, {seconds:g} s",
            headers,
            rows_same,
            notes=[
                ORIGINAL,
                f"after/before req/s: {ratio:.1f}x (target >= 10x with no more exchange calls)",
            ],
        ),
        table(f"c16 fetchTicker over 16 symbols (one each), {seconds:g} s", headers, rows_many),
        table(
            "50 concurrent identical fetchTicker (one burst)",
            ["mode", "answers 200", "burst ms", "exchange calls"],
            rows_burst,
            notes=["target after: 1 exchange call"],
        ),
    ]


async def herd_client(
    server: Server,
    conn: Connection,
    key: int,
    symbol: str,
    deadline: float,
    outcomes: Counter[str],
    budget: int,
) -> None:
    """One terminal: its own API key, its own symbol; ticker and book in turn until the end."""
    ticker = server.request("/api/exchange/fetchTicker", ticker_body(symbol, key))
    book = server.request(
        "/api/exchange/fetchOrderBook", {**ticker_body(symbol, key), "limit": 100}
    )
    for i in range(budget):
        if time.perf_counter() >= deadline:
            return
        status, body = await conn.request(book if i % 2 else ticker)
        if status == 200:
            outcomes["200 data"] += 1
        elif (
            status == 429
            and b"RateLimitExceeded" in body
            and (b"budget is used up" in body or b"held back" in body)
        ):
            outcomes["429 ours"] += 1
        elif status == 429:
            outcomes["429 exchange's"] += 1
        elif status >= 500:
            outcomes["5xx"] += 1
        else:
            outcomes[f"{status} other"] += 1


async def section_herd(token: str, bases: list[str], seconds: float) -> list[str]:
    """40 API keys x 40 symbols at once against an emulator limit of 600 weight per minute."""
    rows: list[list[Any]] = []
    for mode in MODES:
        emulator = BudgetEmulator(SYMBOLS, weight_limit=HERD_WEIGHT_LIMIT, accounts=HERD_KEYS)
        await emulator.start()
        try:
            server = await started_server(emulator.base_url, mode, token)
            try:
                conns = await open_connections(HOST, server.process.port, HERD_KEYS)
                outcomes: Counter[str] = Counter()
                deadline = time.perf_counter() + seconds
                try:
                    await asyncio.wait_for(
                        asyncio.gather(
                            *(
                                herd_client(
                                    server,
                                    conns[i],
                                    i,
                                    f"{bases[i]}/USDT",
                                    deadline,
                                    outcomes,
                                    MAX_REQUESTS // HERD_KEYS,
                                )
                                for i in range(HERD_KEYS)
                            )
                        ),
                        seconds + 60,
                    )
                finally:
                    for conn in conns:
                        await conn.close()
                stats = await emulator.stats()
            finally:
                await server.process.stop()
        finally:
            await emulator.stop()
        statuses = stats.get("statuses", {})
        rows.append(
            [
                mode,
                statuses.get("429", 0),
                statuses.get("418", 0),
                outcomes["429 ours"],
                outcomes["429 exchange's"],
                outcomes["200 data"],
                outcomes["5xx"],
                sum(v for k, v in outcomes.items() if k.endswith("other")),
                rest_calls(stats),
            ]
        )
    return [
        table(
            f"herd: {HERD_KEYS} API keys x {HERD_KEYS} symbols (ticker + book limit 100 in turn), "
            f"{seconds:g} s, emulator limit {HERD_WEIGHT_LIMIT} weight/min per IP",
            [
                "mode",
                "emulator 429",
                "emulator 418",
                "our 429",
                "exchange 429 passed on",
                "answers 200",
                "5xx",
                "other",
                "exchange calls",
            ],
            rows,
            notes=[
                "target after: 0 x 418, at most one 429 at the emulator; data or our 429, no 5xx"
            ],
        )
    ]


async def section_streams(emulator: BudgetEmulator, token: str, seconds: float) -> list[str]:
    """c16 fetchTicker + fetchOrderBook while a Socket.IO stream of both runs."""
    from tests.e2e.socketio_client import EventClient

    rows: list[list[Any]] = []
    paths_after: dict[str, int] = {}
    reads_after: dict[str, Any] = {}
    pro = {"exchangeId": "binance", "ccxtType": "pro"}
    for mode in MODES:
        server = await started_server(emulator.base_url, mode, token, pro=True)
        client = EventClient()
        try:
            await client.connect(f"http://{HOST}:{server.process.port}")
            await client.authenticate(token)
            for data_type in ("ticker", "orderbook"):
                await client.emit(
                    "subscribe",
                    {
                        "exchangeId": "binance",
                        "symbol": "BTC/USDT",
                        "dataType": data_type,
                        "config": pro,
                    },
                )
                await client.expect("subscribed", timeout=10)
                await client.expect("data", timeout=10)
            conns = await open_connections(HOST, server.process.port, 16)
            try:
                ticker = server.request("/api/exchange/fetchTicker", ticker_body("BTC/USDT"))
                book = server.request(
                    "/api/exchange/fetchOrderBook", {**ticker_body("BTC/USDT"), "limit": 20}
                )
                calls = [c.caller(book if i % 2 else ticker) for i, c in enumerate(conns)]
                await emulator.reset()
                result = await run_load(calls, max_requests=MAX_REQUESTS, max_seconds=seconds)
                stats = await emulator.stats()
                page_conn = conns[0]
                _, page = await page_conn.request(
                    build_request(
                        "GET",
                        HOST,
                        server.process.port,
                        "/api/budget",
                        None,
                        {"Authorization": f"Bearer {token}"},
                    )
                )
            finally:
                for conn in conns:
                    await conn.close()
        finally:
            await client.close()
            await server.process.stop()
        by_path = {
            path: n
            for path, n in stats["counts"].items()
            if path.endswith(("/ticker/24hr", "/depth"))
        }
        rows.append(
            [
                mode,
                result.rps,
                result.pct_ms(50),
                result.completed,
                result.errors,
                sum(by_path.values()),
            ]
        )
        paths_after = by_path
        reads_after = json.loads(page).get("data", {}).get("exchanges", {}).get("binance", {})
    return [
        table(
            f"c16 fetchTicker + fetchOrderBook (limit 20) while a Socket.IO stream of both runs, "
            f"{seconds:g} s",
            ["mode", "req/s", "p50 ms", "answers", "errors", "REST calls"],
            rows,
            notes=[
                "target after: 0 REST calls for tickers and books while a fresh stream runs",
                (
                    f"after, REST calls by path: {paths_after or 'none'}; reads by source (GET "
                    f"/api/budget): {reads_after.get('reads')}"
                ),
            ],
        )
    ]


async def section_cluster(token: str, bases: list[str], seconds: float) -> list[str]:
    """Three server processes on one emulator (one IP): each alone, then sharing Redis.

    c16 identical fetchTicker spread over the nodes, then the 40-key herd spread over them.
    """
    from tests.support.redis_server import RedisServer

    same_rows: list[list[Any]] = []
    herd_rows: list[list[Any]] = []
    redis = RedisServer().start()
    try:
        for mode, url in (("3 nodes, own budgets", None), ("3 nodes, Redis", redis.url)):
            emulator = BudgetEmulator(SYMBOLS, weight_limit=HERD_WEIGHT_LIMIT, accounts=HERD_KEYS)
            await emulator.start()
            servers: list[Server] = []
            try:
                while len(servers) < CLUSTER_NODES:  # one by one: each started one is stopped
                    servers.append(
                        await started_server(emulator.base_url, "after", token, redis_url=url)
                    )
                conns = [
                    await Connection.open(HOST, servers[i % CLUSTER_NODES].process.port)
                    for i in range(16)
                ]
                try:
                    calls = [
                        c.caller(
                            servers[i % CLUSTER_NODES].request(
                                "/api/exchange/fetchTicker", ticker_body("BTC/USDT")
                            )
                        )
                        for i, c in enumerate(conns)
                    ]
                    await asyncio.sleep(1.1)  # past every freshness window: a cold start
                    await emulator.reset()
                    result = await run_load(calls, max_requests=MAX_REQUESTS, max_seconds=seconds)
                    stats = await emulator.stats()
                finally:
                    for conn in conns:
                        await conn.close()
                same_rows.append(
                    [
                        mode,
                        result.rps,
                        result.pct_ms(50),
                        result.pct_ms(99),
                        result.completed,
                        result.errors,
                        ticker_calls(stats),
                        math.ceil(result.seconds / 0.5),
                    ]
                )
                await emulator.reset()
                conns = [
                    await Connection.open(HOST, servers[i % CLUSTER_NODES].process.port)
                    for i in range(HERD_KEYS)
                ]
                outcomes: Counter[str] = Counter()
                deadline = time.perf_counter() + seconds
                try:
                    await asyncio.wait_for(
                        asyncio.gather(
                            *(
                                herd_client(
                                    servers[i % CLUSTER_NODES],
                                    conns[i],
                                    i,
                                    f"{bases[i]}/USDT",
                                    deadline,
                                    outcomes,
                                    MAX_REQUESTS // HERD_KEYS,
                                )
                                for i in range(HERD_KEYS)
                            )
                        ),
                        seconds + 60,
                    )
                finally:
                    for conn in conns:
                        await conn.close()
                stats = await emulator.stats()
            finally:
                for server in servers:
                    await server.process.stop()
                await emulator.stop()
            statuses = stats.get("statuses", {})
            herd_rows.append(
                [
                    mode,
                    statuses.get("429", 0),
                    statuses.get("418", 0),
                    outcomes["429 ours"],
                    outcomes["429 exchange's"],
                    outcomes["200 data"],
                    outcomes["5xx"],
                    sum(v for k, v in outcomes.items() if k.endswith("other")),
                    rest_calls(stats),
                ]
            )
    finally:
        redis.close()
    return [
        table(
            f"cluster: c16 identical fetchTicker BTC/USDT spread over {CLUSTER_NODES} nodes, "
            f"{seconds:g} s",
            [
                "mode",
                "req/s",
                "p50 ms",
                "p99 ms",
                "answers",
                "errors",
                "exchange calls",
                "500 ms windows",
            ],
            same_rows,
            notes=["target with Redis: exchange calls <= 500 ms windows (one per max age)"],
        ),
        table(
            f"cluster herd: {HERD_KEYS} API keys x {HERD_KEYS} symbols over {CLUSTER_NODES} "
            f"nodes, {seconds:g} s, emulator limit {HERD_WEIGHT_LIMIT} weight/min per IP",
            [
                "mode",
                "emulator 429",
                "emulator 418",
                "our 429",
                "exchange 429 passed on",
                "answers 200",
                "5xx",
                "other",
                "exchange calls",
            ],
            herd_rows,
            notes=["target with Redis: 0 x 418, at most one 429 at the emulator, no 5xx"],
        ),
    ]


async def run(seconds: float, only_cluster: bool = False) -> None:
    from tests.emulator import market_data as md

    token = secrets.token_urlsafe(24)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    emulator = BudgetEmulator(SYMBOLS)
    sections: list[str] = []
    bases = list(md.bases(SYMBOLS))
    if not only_cluster:
        try:
            await emulator.start()
            sections += await section_throughput(emulator, token, bases, seconds)
            sections += await section_streams(emulator, token, seconds)
        finally:
            await emulator.stop()
        sections += await section_herd(token, bases, seconds)
    sections += await section_cluster(token, bases, seconds)
    print(
        machine_header(
            "bench.budget: read budget before/after (issue 9)",
            {
                "ccxt enableRateLimit": "true (server, both modes)",
                "before": "[budget] enabled = false (one exchange call per read, as the original)",
                "after": "[budget] defaults (ticker 500 ms, orderbook 250 ms, shared limiter)",
                "loadavg 1/5/15 min": f"{' '.join(load_before)} at start, "
                f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} at end",
            },
        )
    )
    for section in sections:
        print(section)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each load phase")
    parser.add_argument("--max-minutes", type=float, default=10.0, help="hard stop for the run")
    parser.add_argument(
        "--cluster-only", action="store_true", help="only the 3-node rows (Redis vs own budgets)"
    )
    args = parser.parse_args(argv)

    async def bounded() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await asyncio.wait_for(run(args.seconds, args.cluster_only), args.max_minutes * 60)

    asyncio.run(bounded())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
