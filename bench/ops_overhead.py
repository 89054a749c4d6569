"""Per-request cost of the operations layer (metrics, named-token auth), in process.

    .venv/bin/python -m bench.ops_overhead [--requests 20000] [--rounds 5]

Calls the ASGI stack directly (no sockets, so the numbers are the server's own work) for
``GET /health`` (open) and ``GET /api/backends`` (token-checked) through:
  bare       the Litestar app alone (no request-log/metrics wrapper)
  log only   the request-log wrapper with NullMetrics (what logging alone costs)
  log+prom   the wrapper with the Prometheus adapter (what the app runs)
Logging goes to /dev/null through the app's real processors. Prints the median over rounds
of microseconds per request and requests per second of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.adapters.metrics import NullMetrics
from app.entrypoints.asgi import create_app
from app.entrypoints.request_log import RequestLogMiddleware
from app.observability import configure_logging
from app.settings import load_settings
from bench.rest_report import table

TOKEN = "bench-token-not-a-secret"


def scope(path: str, token: bool) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1")]
    if token:
        headers.append((b"authorization", f"Bearer {TOKEN}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 3001),
        "state": {},
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def run(app: Any, path: str, token: bool, n: int) -> float:
    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    for _ in range(n):
        await app(scope(path, token), receive, send)
    elapsed = time.perf_counter() - started
    assert status == 200, (path, status)
    return elapsed / n * 1e6


def metric_call_us(application: Any, n: int = 100_000) -> float:
    metrics = application.container.metrics()
    started = time.perf_counter()
    for _ in range(n):
        metrics.http_request("/health", "GET", 200, 0.001)
    return (time.perf_counter() - started) / n * 1e6


async def main(requests: int, rounds: int) -> None:
    with open(os.devnull, "w") as null:
        configure_logging("info", "json", stream=null)
        settings = load_settings(env={"API_TOKEN": TOKEN})
        application = create_app(settings)
        http = application.http
        variants = {
            "bare (Litestar app only)": http,
            "log only (NullMetrics)": RequestLogMiddleware(http, metrics=NullMetrics()),
            "log+prometheus (as served)": RequestLogMiddleware(
                http, metrics=application.container.metrics()
            ),
        }
        rows = []
        async with http.lifespan():
            for path, token in (("/health", False), ("/api/backends", True)):
                samples: dict[str, list[float]] = {name: [] for name in variants}
                for app in variants.values():
                    await run(app, path, token, 500)  # warm up
                for _ in range(rounds):  # interleaved: machine load drifts alike for each
                    for name, app in variants.items():
                        samples[name].append(await run(app, path, token, requests))
                for name, values in samples.items():
                    us = statistics.median(values)
                    rows.append([path, name, f"{us:.1f}", f"{1e6 / us:,.0f}"])
        rows.append(
            ["(one call)", "Metrics.http_request", f"{metric_call_us(application):.1f}", ""]
        )
    print(
        table(
            "Per-request cost of the operations layer (in process, no sockets)",
            ["path", "stack", "us/request (median)", "req/s one core"],
            rows,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(min(args.requests, 200_000), min(args.rounds, 20)))
