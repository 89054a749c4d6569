"""``bench.rest --overhead``: our server's own cost per request next to a bare Litestar app.

Issue 9, "the server's own cost per request": once reads come from memory, the server's
per-request overhead is the limit. Both apps run at the same time as child processes on the
same server stack (``app.cli.serve_asgi``), loaded in turn by the same client (c16, keep-alive,
pre-built requests), each row ``repeats`` times with the targets interleaved so that machine
drift hits both alike. CPU per request is the server process's user+sys time
(``/proc/<pid>/stat``) during the row divided by the requests it answered.

Routes: ``GET /health``, and ``POST /api/exchange/fetchTicker`` for the built-in ``sim``
exchange, served by ours from the freshness cache (checked: ``X-Data-Source: cache``) and by
the bare app from a constant (the same ticker, so the same response size).
"""

from __future__ import annotations

import json
import secrets
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.rest_loadgen import Connection, LoadResult, build_request, open_connections, run_load
from bench.rest_procs import HOST, BareProcess, ServerProcess, cpu_seconds
from bench.rest_report import table

TARGET_RATIO = 1.5
BEFORE = "ours, baseline"
"""The app name of ``--baseline``'s server in the table."""
TICKER_BODY = {"config": {"exchangeId": "sim"}, "symbol": "BTC/USDT"}


@dataclass(frozen=True)
class OverheadPlan:
    concurrency: int = 16
    seconds: float = 3.0
    max_requests: int = 200_000
    repeats: int = 3
    warmup_seconds: float = 1.0


def our_config(log_level: str) -> str:
    """As deployed (log level info: one line per request), a ticker cached for 10 minutes."""
    return f'log_level = "{log_level}"\n[budget.max_age_ms]\nticker = 600000\n'


@dataclass
class Row:
    app: str
    route: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


async def _load(
    port: int, request: bytes, plan: OverheadPlan, pid: int, seconds: float
) -> LoadResult:
    conns = await open_connections(HOST, port, plan.concurrency)
    try:
        calls = [c.caller(request) for c in conns]
        before = cpu_seconds(pid)
        result = await run_load(calls, max_requests=plan.max_requests, max_seconds=seconds)
        result.cpu = {"server": cpu_seconds(pid) - before}
        if result.errors:
            raise RuntimeError(f"{result.errors} failed requests on port {port}")
        return result
    finally:
        for conn in conns:
            await conn.close()


async def _cached_ticker(port: int, token: str) -> dict[str, Any]:
    """Two fetchTicker calls: the first fills the cache, the second must come from it."""
    request = build_request(
        "POST",
        HOST,
        port,
        "/api/exchange/fetchTicker",
        TICKER_BODY,
        {"Authorization": f"Bearer {token}"},
    )
    conn = await Connection.open(HOST, port)
    try:
        for _ in range(2):
            status, body = await conn.request(request)
            if status != 200:
                raise RuntimeError(f"fetchTicker answered {status}: {body[:300]!r}")
        if b"\r\nx-data-source: cache\r\n" not in conn.last_head.lower():
            raise RuntimeError(f"second fetchTicker not from the cache: {conn.last_head!r}")
        return json.loads(body)["data"]  # type: ignore[no-any-return]
    finally:
        await conn.close()


async def section_overhead(
    plan: OverheadPlan, *, log_level: str = "info", baseline: Path | None = None
) -> list[str]:
    """The table; with ``baseline`` (another checkout with its own ``.venv``, e.g. a worktree
    of main before a change) its server is a third app, loaded in the same interleaved
    rounds: before and after in one run."""
    token = secrets.token_urlsafe(24)
    ours = ServerProcess(our_config(log_level), token)
    before = ServerProcess(our_config(log_level), token, baseline) if baseline else None
    bare: BareProcess | None = None
    try:
        await ours.start()
        if before is not None:
            await before.start()
        bare = BareProcess(await _cached_ticker(ours.port, token))
        await bare.start()
        auth = {"Authorization": f"Bearer {token}"}
        apps: list[tuple[str, Any, dict[str, str]]] = [("bare Litestar", bare, {})]
        if before is not None:
            await _cached_ticker(before.port, token)
            apps.append((BEFORE, before, auth))
        apps.append(("ours", ours, auth))
        targets = []
        for name, proc, headers in apps:
            targets += [
                (name, "GET /health", proc, build_request("GET", HOST, proc.port, "/health")),
                (
                    name,
                    "POST fetchTicker (cached)",
                    proc,
                    build_request(
                        "POST", HOST, proc.port, "/api/exchange/fetchTicker", TICKER_BODY, headers
                    ),
                ),
            ]
        order = {name: n for n, (name, _, _) in enumerate(apps)}
        targets.sort(key=lambda t: (t[1], order[t[0]]))  # per route: bare, (before), ours
        for _, _, proc, request in targets:
            await _load(proc.port, request, plan, proc.pid, plan.warmup_seconds)
        runs: list[Row] = []
        for _ in range(plan.repeats):
            for name, route, proc, request in targets:
                res = await _load(proc.port, request, plan, proc.pid, plan.seconds)
                runs.append(
                    Row(
                        name,
                        route,
                        res.rps,
                        res.pct_ms(50),
                        res.pct_ms(99),
                        res.cpu["server"] / res.completed * 1e6,
                    )
                )
    finally:
        await ours.stop()
        if before is not None:
            await before.stop()
        if bare is not None:
            await bare.stop()
    return [_report(plan, runs, log_level)]


def _report(plan: OverheadPlan, runs: list[Row], log_level: str) -> str:
    keys = list(dict.fromkeys((r.route, r.app) for r in runs))
    median: dict[tuple[str, str], Row] = {}
    for route, app in keys:
        mine = [r for r in runs if (r.route, r.app) == (route, app)]
        median[(route, app)] = Row(
            app,
            route,
            *(
                statistics.median(getattr(r, f) for r in mine)
                for f in ("rps", "p50_ms", "p99_ms", "cpu_us")
            ),
        )
    rows = []
    notes = []
    for route, app in keys:
        m = median[(route, app)]
        base = median[(route, "bare Litestar")]
        ratio = m.cpu_us / base.cpu_us
        spread = "/".join(f"{r.cpu_us:.0f}" for r in runs if (r.route, r.app) == (route, app))
        rows.append([route, app, m.rps, m.p50_ms, m.p99_ms, m.cpu_us, spread, ratio])
        if app == "ours":
            verdict = "MET" if ratio <= TARGET_RATIO else "MISSED"
            notes.append(
                f"{route}: ours / bare CPU per request = {ratio:.2f} "
                f"(target <= {TARGET_RATIO}: {verdict})"
            )
    notes += [
        (
            f"medians of {plan.repeats} interleaved runs, each {plan.seconds:g} s at "
            f"c{plan.concurrency} (keep-alive, one request in flight per connection); both apps on "
            "app.cli.serve_asgi, ours at log_level " + log_level
        ),
        (
            "srv CPU us/req: user+sys CPU of the server process during the run / requests "
            "(10 ms tick resolution); 'runs' lists it per run"
        ),
    ]
    return table(
        "4. Server overhead per request: bare Litestar app vs ours, same server stack",
        ["route", "app", "req/s", "p50 ms", "p99 ms", "srv CPU us/req", "runs", "x bare"],
        rows,
        notes,
    )


def server_stack() -> str:
    """The server, its HTTP parser and event loop as ``app.cli.serve_asgi`` configures them."""
    from importlib.metadata import version

    from app.cli import uvicorn_config
    from app.settings import load_settings

    config = uvicorn_config(load_settings(env={}, overrides={"host": HOST}), None)
    return (
        f"uvicorn {version('uvicorn')} (http={config.http}, loop={config.loop}, "
        f"access_log={config.access_log})"
    )
