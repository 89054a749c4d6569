"""Where the server's time goes on fetchTicker: cProfile of the app in-process under uvicorn.

    .venv/bin/python -m bench.rest_profile [--requests 5000] [--concurrency 8] [--log-level info]

The emulator runs in a child process; uvicorn (same settings as the CLI) and the load client
share this process, so the client shows up in the profile too (``bench/rest_loadgen``, small).
Prints own time (tottime) summed by package, then the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import secrets
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.testing.waiting import eventually
from bench.rest_loadgen import build_request, open_connections, run_load
from bench.rest_procs import HOST, EmulatorProcess, free_port
from bench.rest_report import table

PACKAGES = (
    "ccxt",
    "aiohttp",
    "yarl",
    "multidict",
    "litestar",
    "structlog",
    "uvicorn",
    "httptools",
    "msgspec",
    "socketio",
    "engineio",
    "uvloop",
    "logging",
    "json",
    "re",
    "asyncio",
    "app",
    "bench",
    "dependency_injector",
)


def package_of(filename: str) -> str:
    if filename.startswith("<") or filename == "~":
        return "builtins/C"
    parts = Path(filename).parts
    for name in PACKAGES:
        if name in parts:
            return name
    return "other:" + Path(filename).stem


async def profile(args: argparse.Namespace) -> str:
    import uvicorn

    from app.entrypoints.asgi import create_app
    from app.observability import configure_logging
    from app.settings import load_settings
    from tests.emulator.overrides import emulator_overrides

    emulator = EmulatorProcess(args.symbols)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None
    try:
        await emulator.start()
        token = secrets.token_urlsafe(16)
        port = free_port()
        settings = load_settings(
            env={},
            overrides={
                "host": HOST,
                "port": port,
                "api_token": token,
                "log_level": args.log_level,
                "ccxt": {"enable_rate_limit": False},
                "exchanges": {"binance": {"ccxt": emulator_overrides(emulator.base_url)}},
            },
        )
        sink = open("/dev/null", "w")  # noqa: SIM115 - same formatting work, no terminal
        configure_logging(settings.log_level, "json", stream=sink)
        config = uvicorn.Config(
            create_app(settings),
            host=HOST,
            port=port,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        await eventually(lambda: server.started, timeout=30, message="uvicorn started")
        req = build_request(
            "POST",
            HOST,
            port,
            "/api/exchange/fetchTicker",
            {"config": {"exchangeId": "binance"}, "symbol": "BTC/USDT"},
            {"Authorization": f"Bearer {token}"},
        )
        path_req = build_request("GET", HOST, port, "/health")
        data = req if args.path == "fetchTicker" else path_req
        calls = [c.caller(data) for c in await open_connections(HOST, port, args.concurrency)]
        await run_load(calls, max_requests=500, max_seconds=30)  # warm-up, markets load
        gc_pauses = await gc_pauses_during(
            run_load(calls, max_requests=args.requests, max_seconds=60)
        )
        cycles = await cyclic_garbage_of(run_load(calls, max_requests=1000, max_seconds=30))
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        result = await run_load(calls, max_requests=args.requests, max_seconds=60)
        profiler.disable()
        wall = time.perf_counter() - began
    finally:
        if server is not None:
            server.should_exit = True
        if task is not None:
            await asyncio.wait_for(task, 15)
        await emulator.stop()

    stats = pstats.Stats(profiler)
    by_pkg: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_pkg[package_of(filename)] += tottime
        total += tottime
    n = result.completed
    rows = [
        [pkg, t * 1e6 / n, 100 * t / total]
        for pkg, t in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:18]
    ]
    out = [
        (
            f"# {n:,} {args.path} requests, concurrency {args.concurrency}, {wall:.2f} s "
            f"({n / wall:,.0f} req/s under the profiler), log_level {args.log_level}"
        )
    ]
    out.append(
        table(
            f"garbage collector during {args.requests:,} unprofiled requests (same process)",
            ["generation", "collections", "total ms", "max ms"],
            [[g, len(p), sum(p) * 1e3, max(p, default=0) * 1e3] for g, p in gc_pauses.items()],
        )
    )
    out.append(
        table(
            f"objects left in reference cycles, per request ({sum(cycles.values()) / 1000:.0f} "
            "in all; freed only by the gc)",
            ["type", "per request"],
            [[t, c / 1000] for t, c in cycles.most_common(12)],
        )
    )
    out.append(
        table(
            "own time by package (profiled, incl. load client)",
            ["package", "us/request", "%"],
            rows,
        )
    )
    frames = [  # (label, file suffix, function): cumulative time per request
        ("uvicorn run_asgi (whole app)", "httptools_impl.py", "run_asgi"),
        ("RequestLogMiddleware (outermost app mw)", "request_log.py", "__call__"),
        ("  its structlog log.info line", "structlog/stdlib.py", "info"),
        ("litestar route handle", "routes/http.py", "handle"),
        ("ExchangeController.fetch_ticker", "http/exchange.py", "fetch_ticker"),
        ("ccxt binance.fetch_ticker", "async_support/binance.py", "fetch_ticker"),
        ("ccxt ... aiohttp request (ccxt fetch)", "async_support/base/exchange.py", "fetch"),
    ]
    cum_rows = []
    for label, suffix, func in frames:
        cum = sum(
            v[3]
            for (f, _, fn), v in stats.stats.items()  # type: ignore[attr-defined]
            if fn == func and f.endswith(suffix)
        )
        cum_rows.append([label, cum * 1e6 / n])
    out.append(
        table(
            "cumulative time per request in key frames (profiled: ~2x slower than real)",
            ["frame", "us/request"],
            cum_rows,
        )
    )
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(args.top)
    out.append("\n== top functions by own time\n" + _trim(buf.getvalue()))
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(args.top)
    out.append("\n== top functions by cumulative time\n" + _trim(buf.getvalue()))
    out.append(
        table(
            "one request log line (app.observability setup, no profiler)",
            ["server log_level", "us/line"],
            [[lvl, log_line_cost(lvl)] for lvl in ("info", "warning")],
        )
    )
    return "\n".join(out)


async def gc_pauses_during(work: Any) -> dict[int, list[float]]:
    """Seconds spent in each gc collection, by generation, while ``work`` runs."""
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses[info["generation"]].append(time.perf_counter() - started.pop())

    before = [g["collections"] for g in gc.get_stats()]
    gc.callbacks.append(callback)
    try:
        await work
    finally:
        gc.callbacks.remove(callback)
    after = [g["collections"] for g in gc.get_stats()]
    print(
        f"# gc collections during the run {[a - b for a, b in zip(after, before, strict=False)]}, "
        f"thresholds {gc.get_threshold()}",
        file=sys.stderr,
    )
    return pauses


async def cyclic_garbage_of(work: Any) -> Counter[str]:
    """Types of the objects that ``work`` leaves unreachable in reference cycles."""
    gc.collect()
    live_before = Counter(type(o).__qualname__ for o in gc.get_objects())
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await work
        gc.collect()
        found = Counter(type(o).__qualname__ for o in gc.garbage)
        gc.set_debug(0)
        gc.garbage.clear()
        live = Counter(type(o).__qualname__ for o in gc.get_objects())
        live.subtract(live_before)
        grown = [(t, n) for t, n in live.most_common(8) if n > 0]
        print(
            f"# tracked objects still alive after the run, growth by type: {grown}", file=sys.stderr
        )
        return found
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def log_line_cost(level: str, lines: int = 20_000) -> float:
    """Microseconds per RequestLogMiddleware-style line with the app's logging setup."""
    import structlog

    from app.observability import configure_logging

    with open("/dev/null", "w") as sink:
        configure_logging(level, "json", stream=sink)
        log = structlog.get_logger("app.http")
        began = time.perf_counter()
        for i in range(lines):
            with structlog.contextvars.bound_contextvars(request_id=f"{i:032x}"):
                log.info(
                    "http_request",
                    method="POST",
                    path="/api/exchange/fetchTicker",
                    status=200,
                    duration_ms=0.512,
                )
        return (time.perf_counter() - began) / lines * 1e6


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line.replace(str(Path(sys.prefix)), "$VENV") for line in lines[start:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--path", choices=("fetchTicker", "health"), default="fetchTicker")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        print(asyncio.run(asyncio.wait_for(profile(args), 300)))
    else:
        print(uvloop.run(asyncio.wait_for(profile(args), 300)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
