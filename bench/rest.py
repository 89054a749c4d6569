"""REST benchmark: fetchTicker through the server vs. ccxt in-process, cold start, memory.

    .venv/bin/python -m bench.rest            # full run, a few minutes
    .venv/bin/python -m bench.rest --quick    # short run, same tables
    .venv/bin/python -m bench.rest --overhead # only table 4: ours vs a bare Litestar app,
                                              # CPU per request (under a minute)
    .venv/bin/python -m bench.rest --overhead --baseline ../main
                                              # and another checkout's server (its own
                                              # .venv) in the same runs: before and after

Everything runs on 127.0.0.1: the binance emulator (``tests.emulator``, ~2,000 symbols) in
a child process, the server as a child via its CLI, this process as the load client and as
the "direct" ccxt caller. Both sides run ccxt with enableRateLimit false. Every loop is
bounded by a request count and a time budget; children are stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/rest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rest_loadgen import (
    Connection,
    LoadResult,
    build_request,
    open_connections,
    run_load,
)
from bench.rest_overhead import OverheadPlan, section_overhead, server_stack
from bench.rest_procs import (
    HOST,
    EmulatorProcess,
    ServerProcess,
    cpu_seconds,
    memory_kib,
    server_config,
)
from bench.rest_report import machine_header, table

SYMBOL = "BTC/USDT"
EMULATOR_TICKER_PATH = "/api.binance.com/api/v3/ticker/24hr?symbol=BTCUSDT"
TARGET_ADDED_P50_MS = 1.0
TARGET_MIB_PER_INSTANCE = 0.5


@dataclass(frozen=True)
class Plan:
    symbols: int
    warmup: int
    sequential: int
    rounds: int  # sequential runs are split in rounds that alternate the targets (drift)
    concurrency: tuple[int, ...]
    load_requests: int
    load_seconds: float
    cold_clients: int
    cold_repeats: int
    instance_steps: tuple[int, ...]

    @classmethod
    def of(cls, quick: bool, symbols: int) -> Plan:
        if quick:
            return cls(symbols, 100, 400, 2, (1, 8, 32), 5_000, 1.5, 20, 1, (1, 10, 100))
        return cls(symbols, 300, 2_000, 4, (1, 8, 32), 50_000, 5.0, 20, 3, (1, 10, 100))


# -- targets ------------------------------------------------------------------------------


@dataclass
class Target:
    """Something to load: ``make(n)`` returns n callables (one per connection or worker)."""

    name: str
    make: Callable[[int], Awaitable[list[Callable[[], Awaitable[bool]]]]]
    cleanup: list[Connection]


def http_target(name: str, port: int, data: bytes) -> Target:
    target = Target(name, None, [])  # type: ignore[arg-type]

    async def make(n: int) -> list[Callable[[], Awaitable[bool]]]:
        conns = await open_connections(HOST, port, n)
        target.cleanup.extend(conns)
        return [c.caller(data) for c in conns]

    target.make = make
    return target


def direct_target(exchange: Any) -> Target:
    async def call() -> bool:
        ticker = await exchange.fetch_ticker(SYMBOL)
        return bool(ticker)

    async def make(n: int) -> list[Callable[[], Awaitable[bool]]]:
        return [call] * n

    return Target("direct ccxt fetch_ticker (in-process)", make, [])


async def close_target(target: Target) -> None:
    conns, target.cleanup = target.cleanup, []
    await asyncio.gather(*(c.close() for c in conns))


async def measure(
    target: Target, concurrency: int, requests: int, seconds: float, pids: dict[str, int]
) -> LoadResult:
    calls = await target.make(concurrency)
    try:
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        result = await run_load(calls, max_requests=requests, max_seconds=seconds)
        result.cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        return result
    finally:
        await close_target(target)


# -- section 1: latency and throughput ------------------------------------------------------


def new_direct_exchange(overrides: dict[str, Any]) -> Any:
    """The same constructor config the server builds: our defaults, then the overrides."""
    import ccxt.async_support as ccxt_async

    from app.adapters.ccxt.backend import deep_merge

    return ccxt_async.binance(deep_merge({"enableRateLimit": False, "timeout": 30_000}, overrides))


async def section_latency(
    plan: Plan,
    emulator: EmulatorProcess,
    overrides: dict[str, Any],
    config_text: str,
    token: str,
    facts: dict[str, Any],
) -> list[str]:
    out: list[str] = []
    server = ServerProcess(config_text, token)
    exchange = new_direct_exchange(overrides)
    try:
        await server.start()
        auth = {"Authorization": f"Bearer {token}"}
        ticker_body = {"config": {"exchangeId": "binance"}, "symbol": SYMBOL}
        ticker_req = build_request(
            "POST", HOST, server.port, "/api/exchange/fetchTicker", ticker_body, auth
        )
        emu_port = int(emulator.base_url.rsplit(":", 1)[1])

        # First calls: markets load on both sides; check that answers are what we think.
        conn = await Connection.open(HOST, server.port)
        began = time.perf_counter()
        status, body = await conn.request(ticker_req)
        first_server = time.perf_counter() - began
        await conn.close()
        data = json.loads(body)
        if status != 200 or data.get("data", {}).get("symbol") != SYMBOL:
            raise RuntimeError(f"server fetchTicker answered {status}: {body[:300]!r}")
        began = time.perf_counter()
        await exchange.load_markets()
        first_direct = time.perf_counter() - began
        if (await exchange.fetch_ticker(SYMBOL))["symbol"] != SYMBOL:
            raise RuntimeError("direct fetch_ticker returned another symbol")
        facts["markets loaded by ccxt"] = (
            f"{len(exchange.markets):,} (emulator symbols {plan.symbols:,})"
        )
        facts["response bytes"] = f"fetchTicker via server {len(body):,}"

        targets = [
            http_target(
                "emulator GET ticker/24hr (raw client)",
                emu_port,
                build_request("GET", HOST, emu_port, EMULATOR_TICKER_PATH),
            ),
            http_target(
                "server GET /health",
                server.port,
                build_request("GET", HOST, server.port, "/health"),
            ),
            http_target("server POST fetchTicker", server.port, ticker_req),
            direct_target(exchange),
        ]
        pids = {"server": server.pid, "emulator": emulator.pid, "bench": os.getpid()}
        for target in targets:  # warm-up
            await measure(target, 1, plan.warmup, 30, pids)

        # (a) sequential latency, the targets alternating in rounds.
        merged: dict[str, list[int]] = {t.name: [] for t in targets}
        totals: dict[str, float] = {t.name: 0.0 for t in targets}
        per_round = plan.sequential // plan.rounds
        for _ in range(plan.rounds):
            for target in targets:
                result = await measure(target, 1, per_round, 60, pids)
                if result.errors:
                    raise RuntimeError(f"{target.name}: {result.errors} errors")
                merged[target.name] += result.latencies_ns
                totals[target.name] += result.seconds
        rows = []
        seq = {name: LoadResult(1, len(lat), 0, totals[name], lat) for name, lat in merged.items()}
        for name, res in seq.items():
            rows.append(
                [
                    name,
                    res.completed,
                    res.pct_ms(50),
                    res.pct_ms(90),
                    res.pct_ms(99),
                    res.pct_ms(99.9),
                    res.mean_ms,
                    res.rps,
                ]
            )
        server_p50 = seq["server POST fetchTicker"].pct_ms(50)
        direct_p50 = seq["direct ccxt fetch_ticker (in-process)"].pct_ms(50)
        added = server_p50 - direct_p50
        added_p99 = seq["server POST fetchTicker"].pct_ms(99) - seq[
            "direct ccxt fetch_ticker (in-process)"
        ].pct_ms(99)
        verdict = "MET" if added <= TARGET_ADDED_P50_MS else "MISSED"
        out.append(
            table(
                f"1a. Sequential latency (concurrency 1, {plan.sequential:,} requests after "
                f"{plan.warmup} warm-up, {plan.rounds} alternating rounds), ms",
                ["target", "n", "p50", "p90", "p99", "p99.9", "mean", "req/s"],
                rows,
                [
                    (
                        f"server p50 - direct p50 = {added:.3f} ms added by the server "
                        f"(target <= {TARGET_ADDED_P50_MS} ms: {verdict}); p99 difference {added_p99:.3f} ms"
                    ),
                    (
                        f"first call (markets load): server fetchTicker {first_server * 1000:.0f} ms, "
                        f"direct load_markets {first_direct * 1000:.0f} ms (the server imports ccxt at start)"
                    ),
                ],
            )
        )

        # (b) throughput at a few concurrency levels.
        rows = []
        for concurrency in plan.concurrency:
            for target in targets:
                res = await measure(
                    target, concurrency, plan.load_requests, plan.load_seconds, pids
                )
                per_req = {
                    k: v / res.completed * 1e6 if res.completed else float("nan")
                    for k, v in res.cpu.items()
                }
                rows.append(
                    [
                        target.name,
                        concurrency,
                        res.completed,
                        res.errors,
                        res.seconds,
                        res.rps,
                        res.pct_ms(50),
                        res.pct_ms(99),
                        per_req["server"],
                        per_req["emulator"],
                        per_req["bench"],
                    ]
                )
        out.append(
            table(
                f"1b. Throughput (bounded by {plan.load_requests:,} requests and "
                f"{plan.load_seconds:g} s per row; one keep-alive connection or worker per level)",
                [
                    "target",
                    "conc",
                    "done",
                    "err",
                    "s",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "srv CPU us/req",
                    "emu CPU us/req",
                    "bench CPU us/req",
                ],
                rows,
                [
                    (
                        "CPU columns: user+sys CPU of each process during the row / requests done "
                        "(10 ms tick resolution); all three processes share the machine's cores."
                    )
                ],
            )
        )
    finally:
        await exchange.close()
        await server.stop()
    return out


# -- section 2: cold single flight ----------------------------------------------------------

EXCHANGE_INFO = {
    "spot": "/api/v3/exchangeInfo",
    "fapi": "/fapi/v1/exchangeInfo",
    "dapi": "/dapi/v1/exchangeInfo",
}


def _info_counts(counts: dict[str, int]) -> list[int]:
    return [
        sum(n for path, n in counts.items() if path.endswith(suffix))
        for suffix in EXCHANGE_INFO.values()
    ]


async def section_cold(
    plan: Plan, emulator: EmulatorProcess, overrides: dict[str, Any], config_text: str, token: str
) -> list[str]:
    rows = []
    n = plan.cold_clients
    body = {"config": {"exchangeId": "binance"}, "symbol": SYMBOL}
    for run in range(1, plan.cold_repeats + 1):
        await emulator.reset()
        server = ServerProcess(config_text, token)
        try:
            ready = await server.start()
            req = build_request(
                "POST",
                HOST,
                server.port,
                "/api/exchange/fetchTicker",
                body,
                {"Authorization": f"Bearer {token}"},
            )
            conns = await open_connections(HOST, server.port, n)  # connected before t0
            began = time.perf_counter()

            async def one(
                conn: Connection, req: bytes = req, began: float = began
            ) -> tuple[int, float]:
                status, _ = await conn.request(req)
                return status, time.perf_counter() - began

            answers = await asyncio.wait_for(asyncio.gather(*(one(c) for c in conns)), 120)
            await asyncio.gather(*(c.close() for c in conns))
            counts = await emulator.counts()
            info = _info_counts(counts)
            times = sorted(t for _, t in answers)
            ok = sum(1 for s, _ in answers if s == 200)
            loads = max(info)
            rows.append(
                [
                    f"server, fresh process #{run}",
                    n,
                    ok,
                    *info,
                    loads,
                    counts.get("/api/v3/ticker/24hr", 0),
                    times[0] * 1000,
                    times[len(times) // 2] * 1000,
                    times[-1] * 1000,
                    ready * 1000,
                ]
            )
        finally:
            await server.stop()

    # Reference: ccxt alone, fresh instance, the same 20 concurrent calls (ccxt dedups too).
    await emulator.reset()
    exchange = new_direct_exchange(overrides)
    try:
        began = time.perf_counter()

        async def direct_one() -> float:
            await exchange.fetch_ticker(SYMBOL)
            return time.perf_counter() - began

        times = sorted(
            await asyncio.wait_for(asyncio.gather(*(direct_one() for _ in range(n))), 120)
        )
    finally:
        await exchange.close()
    counts = await emulator.counts()
    info = _info_counts(counts)
    rows.append(
        [
            "direct ccxt, fresh instance (reference)",
            n,
            n,
            *info,
            max(info),
            counts.get("/api/v3/ticker/24hr", 0),
            times[0] * 1000,
            times[len(times) // 2] * 1000,
            times[-1] * 1000,
            float("nan"),
        ]
    )
    worst = max(r[6] for r in rows[:-1])
    return [
        table(
            f"2. Cold start: {n} simultaneous fetchTicker for binance on a fresh server",
            [
                "run",
                "clients",
                "200s",
                "spot info",
                "fapi info",
                "dapi info",
                "loads",
                "tickers",
                "first ms",
                "median ms",
                "last ms",
                "ready ms",
            ],
            rows,
            [
                (
                    f"loads = max exchangeInfo requests per section (one load_markets = one each of "
                    f"spot/fapi/dapi); target 1: {'MET' if worst == 1 else 'MISSED'} (worst {worst})"
                ),
                (
                    "times from the moment all requests were sent (connections opened before); "
                    "'ready' = process start to first GET /health 200"
                ),
            ],
        )
    ]


# -- section 3: memory ----------------------------------------------------------------------


async def section_memory(
    plan: Plan, emulator: EmulatorProcess, config_text: str, token: str
) -> list[str]:
    await emulator.reset()
    server = ServerProcess(config_text, token)
    rows: list[list[Any]] = []
    try:
        await server.start()
        conn = await Connection.open(HOST, server.port)
        auth = {"Authorization": f"Bearer {token}"}

        async def snapshot(label: str, instances: int, create_ms: float) -> dict[str, int]:
            await asyncio.sleep(0.5)
            mem = memory_kib(server.pid)
            info = _info_counts(await emulator.counts())
            rows.append(
                [label, instances, mem["VmRSS"] / 1024, mem["VmHWM"] / 1024, max(info), create_ms]
            )
            return mem

        async def create(config: dict[str, Any]) -> float:
            req = build_request("POST", HOST, server.port, "/api/exchange/instance", config, auth)
            began = time.perf_counter()
            status, body = await conn.request(req)
            if status != 200:
                raise RuntimeError(f"/instance answered {status}: {body[:300]!r}")
            return (time.perf_counter() - began) * 1000

        await snapshot("idle (after GET /health)", 0, float("nan"))
        ms = await create({"exchangeId": "binance"})
        await snapshot("markets loaded once (public instance)", 0, ms)
        rss: dict[int, int] = {}
        made = 0
        spent = 0.0
        for step in plan.instance_steps:
            spent = 0.0
            first = made
            while made < step:
                made += 1
                spent += await create(
                    {
                        "exchangeId": "binance",
                        "apiKey": f"bench-key-{made:04d}",
                        "secret": f"bench-secret-{made:04d}-{secrets.token_hex(8)}",
                    }
                )
            mem = await snapshot(
                f"{step} credentialed instances", step, spent / max(made - first, 1)
            )
            rss[step] = mem["VmRSS"]
        await conn.close()
    finally:
        await server.stop()
    lo, hi = plan.instance_steps[0], plan.instance_steps[-1]
    per = (rss[hi] - rss[lo]) / (hi - lo) / 1024
    verdict = "MET" if per < TARGET_MIB_PER_INSTANCE else "MISSED"
    mid = plan.instance_steps[-2] if len(plan.instance_steps) > 2 else lo
    per_mid = (rss[hi] - rss[mid]) / max(hi - mid, 1)
    return [
        table(
            "3. Server memory with cached credentialed binance instances (POST /api/exchange/instance)",
            ["state", "cred. inst.", "VmRSS MiB", "VmHWM MiB", "loads", "create ms/inst"],
            rows,
            [
                (
                    f"per additional instance (RSS{hi} - RSS{lo}) / {hi - lo} = {per * 1024:.0f} KiB "
                    f"= {per:.3f} MiB (target < {TARGET_MIB_PER_INSTANCE} MiB: {verdict})"
                ),
                (
                    f"(RSS{hi} - RSS{mid}) / {hi - mid} = {per_mid:.0f} KiB: the first instances fit in "
                    "memory the allocator kept from the markets load, so RSS grows late"
                ),
                "loads = exchangeInfo requests per section so far (1 = markets loaded once and shared)",
            ],
        )
    ]


# -- main -----------------------------------------------------------------------------------


async def run(plan: Plan, *, log_level: str) -> None:
    from tests.emulator.overrides import emulator_overrides

    token = secrets.token_urlsafe(24)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    emulator = EmulatorProcess(plan.symbols)
    try:
        await emulator.start()
        overrides = emulator_overrides(emulator.base_url, "binance")
        config_text = server_config(overrides, log_level=log_level)
        facts: dict[str, Any] = {}
        sections = await section_latency(plan, emulator, overrides, config_text, token, facts)
        sections += await section_cold(plan, emulator, overrides, config_text, token)
        sections += await section_memory(plan, emulator, config_text, token)
        try:
            import uvloop  # noqa: F401

            loop = "uvloop (bench, emulator; uvicorn picks uvloop too)"
        except ImportError:
            loop = "asyncio"
        print(
            machine_header(
                "bench.rest: REST through profitmaker-server vs. ccxt in-process",
                {
                    "event loop": loop,
                    "server log_level": log_level,
                    "ccxt enableRateLimit": "false (server and direct)",
                    **facts,
                    "loadavg 1/5/15 min": f"{' '.join(load_before)} at start, "
                    f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} at end "
                    "(other work on the machine skews every figure)",
                },
            )
        )
        for section in sections:
            print(section)
    finally:
        await emulator.stop()


async def run_overhead(plan: OverheadPlan, *, log_level: str, baseline: Path | None) -> None:
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    sections = await section_overhead(plan, log_level=log_level, baseline=baseline)
    print(
        machine_header(
            "bench.rest --overhead: server cost per request, ours vs bare Litestar",
            {
                "server stack": server_stack(),
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
    parser.add_argument("--quick", action="store_true", help="short run (about a minute)")
    parser.add_argument("--symbols", type=int, default=2000, help="emulator market list size")
    parser.add_argument(
        "--log-level",
        default="info",
        help="server log_level (default info, as deployed: one line per request)",
    )
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="only the server-overhead table (bare Litestar vs ours)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="--overhead: interleaved runs")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="--overhead: another checkout with its own .venv (e.g. a worktree of main), "
        "loaded as a third app in the same runs: before and after in one table",
    )
    parser.add_argument("--max-minutes", type=float, default=20.0, help="hard stop for the run")
    args = parser.parse_args(argv)
    plan = Plan.of(args.quick, args.symbols)

    async def bounded() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        work = (
            run_overhead(
                OverheadPlan(repeats=args.repeats), log_level=args.log_level, baseline=args.baseline
            )
            if args.overhead
            else run(plan, log_level=args.log_level)
        )
        await asyncio.wait_for(work, args.max_minutes * 60)

    try:
        import uvloop
    except ImportError:
        asyncio.run(bounded())
    else:
        uvloop.run(bounded())
    return 0


if __name__ == "__main__":
    sys.exit(main())
