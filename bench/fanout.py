"""Socket.IO fan-out benchmark: N node socket.io-client clients on one stream at 10 updates/s.

Starts the real application (fake exchange "bench", uvicorn with uvloop, one process) in a
subprocess that plays the exchange: one ticker update every 100 ms on a fixed schedule, each
stamped with its send time. Node processes open the clients; lag = client receipt minus the
stamp (exchange event to client). Reports lag p50/p99, delivery, server CPU and RSS, and the
number of upstream loops. Not run in CI.

    .venv/bin/python bench/fanout.py            # 100, 500 and 1,000 clients
    .venv/bin/python bench/fanout.py --clients 200 --seconds 5

Environment knobs for comparisons: BENCH_DEFLATE=on (uvicorn's per-message deflate, off by
default here as in Node's socket.io), BENCH_GC=default (undo the app's GC tuning),
BENCH_WS=auto|websockets-sansio|wsproto (uvicorn's websocket implementation).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENT_MODULES = ROOT / "tests" / "e2e" / "js"
TOKEN = "bench-token-not-a-secret"
RATE_HZ = 10
CLIENTS_PER_NODE = 250
TICKS = os.sysconf("SC_CLK_TCK")


# -- server side (runs in the subprocess) --------------------------------------------------


async def serve(port: int, stats_path: str) -> None:
    import uvicorn

    sys.path.insert(0, str(ROOT))
    from dependency_injector import providers

    from app.adapters.backends import registry_from_backends
    from app.container import build_container
    from app.entrypoints.asgi import create_app
    from app.observability import configure_logging
    from app.settings import load_settings
    from app.testing.fakes import FakeBackend

    settings = load_settings(
        env={"API_TOKEN": TOKEN},
        overrides={"log_level": "warning", "streams": {"max_subscriptions_per_socket": 10}},
    )
    configure_logging("warning")
    backend = FakeBackend(name="fake", exchange_ids=frozenset({"bench"}))
    container = build_container(settings)
    container.registry.override(providers.Object(registry_from_backends([backend], settings)))
    application = create_app(settings, container)
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        lifespan="on", timeout_graceful_shutdown=2, loop="uvloop",
        ws=os.environ.get("BENCH_WS", "websockets-sansio"),
        ws_per_message_deflate=os.environ.get("BENCH_DEFLATE") == "on",
    )
    server = uvicorn.Server(config)

    async def exchange() -> None:
        """One ticker every 100 ms on a fixed schedule, stamped with its send time."""
        period = 1 / RATE_HZ
        next_at = time.monotonic()
        sequence = 0
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            sequence += 1
            for gateway in backend.created:
                if gateway.pending_watchers("ticker", "BTC/USDT"):
                    ticker = gateway.ticker_for("BTC/USDT")
                    ticker["sentAt"] = time.time_ns() / 1e6
                    ticker["sequence"] = sequence
                    gateway.push("ticker", "BTC/USDT", ticker)

    async def report() -> None:
        while True:
            await asyncio.sleep(0.5)
            hub = container.stream_hub()
            stats = {
                **hub.stats(),
                "loops_started": hub.loops_started,
                "watch_calls": sum(g.calls["watch_ticker"] for g in backend.created),
                "gateways": len(backend.created),
                "parked_updates": container.stream_publisher().parked_updates,
            }
            Path(stats_path).write_text(json.dumps(stats))

    async def default_gc() -> None:
        """BENCH_GC=default: undo the app's collector tuning, to compare."""
        await asyncio.sleep(1)
        _default_gc()

    helpers = [asyncio.create_task(exchange()), asyncio.create_task(report())]
    if os.environ.get("BENCH_GC") == "default":
        helpers.append(asyncio.create_task(default_gc()))
    try:
        await server.serve()
    finally:
        for task in helpers:
            task.cancel()


# -- driver -----------------------------------------------------------------------------


def _default_gc() -> None:
    import gc

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def run_case(clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        stats_path = handle.name
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
        [sys.executable, __file__, "--serve", str(port), stats_path], cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    nodes: list[asyncio.subprocess.Process] = []
    try:
        await wait_port(port)
        env = {**os.environ, "SERVER_URL": f"http://127.0.0.1:{port}", "API_TOKEN": TOKEN,
               "CLIENT_MODULES": str(CLIENT_MODULES)}
        per_node = [CLIENTS_PER_NODE] * (clients // CLIENTS_PER_NODE)
        if clients % CLIENTS_PER_NODE:
            per_node.append(clients % CLIENTS_PER_NODE)
        for n in per_node:
            node = await asyncio.create_subprocess_exec(
                "node", str(ROOT / "bench" / "load.mjs"), env={**env, "CLIENTS": str(n)},
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )
            nodes.append(node)
        for node in nodes:
            assert node.stdout is not None
            line = await asyncio.wait_for(node.stdout.readline(), 90)
            if line.strip() != b"READY":
                raise RuntimeError(f"load client failed: {line!r}")
        await asyncio.sleep(warmup)
        start_ms = time.time() * 1000 + 200
        end_ms = start_ms + seconds * 1000
        for node in nodes:
            assert node.stdin is not None
            node.stdin.write(f"GO {start_ms} {end_ms}\n".encode())
            await node.stdin.drain()
        await asyncio.sleep(0.2)
        cpu_before, t_before = cpu_seconds(server.pid), time.monotonic()
        rss_peak = 0.0
        while time.monotonic() - t_before < seconds:
            rss_peak = max(rss_peak, rss_mib(server.pid))
            await asyncio.sleep(0.5)
        cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - t_before)
        lags: list[float] = []
        received = 0
        for node in nodes:
            out, _ = await asyncio.wait_for(node.communicate(), 60)
            result = json.loads(out.decode().strip().splitlines()[-1])
            lags.extend(result["lags"])
            if "seqs" in result:
                _dump_by_sequence(result)
            received += result["received"]
        stats = json.loads(Path(stats_path).read_text())
        expected = clients * seconds * RATE_HZ
        return {
            "clients": clients,
            "p50": percentile(lags, 0.50),
            "p99": percentile(lags, 0.99),
            "max": max(lags) if lags else math.nan,
            "delivered": received / expected if expected else math.nan,
            "cpu": cpu * 100,
            "rss": rss_peak,
            "loops": stats["loops"],
            "loops_started": stats["loops_started"],
            "parked": stats["parked_updates"],
        }
    finally:
        for node in nodes:
            if node.returncode is None:
                node.kill()
                await node.wait()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        Path(stats_path).unlink(missing_ok=True)


def _dump_by_sequence(result: dict[str, Any]) -> None:
    by_seq: dict[int, list[float]] = {}
    for seq, lag in zip(result["seqs"], result["lags"], strict=True):
        by_seq.setdefault(seq, []).append(lag)
    for seq in sorted(by_seq):
        values = sorted(by_seq[seq])
        print(f"seq {seq}: n={len(values)} min={values[0]:.0f} med={values[len(values)//2]:.0f} "
              f"max={values[-1]:.0f}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="*", default=[100, 500, 1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "STATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvloop

        uvloop.run(serve(int(args.serve[0]), args.serve[1]))
        return
    if not (CLIENT_MODULES / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_MODULES, check=True,
                       timeout=180)
    rows = []
    for clients in args.clients:
        if not 1 <= clients <= 2000:
            raise SystemExit("clients must be between 1 and 2000")
        rows.append(asyncio.run(run_case(clients, args.seconds, args.warmup)))
        print(f"done: {clients} clients", file=sys.stderr)
    header = ("clients", "lag p50 ms", "lag p99 ms", "lag max ms", "delivered", "server CPU",
              "peak RSS MiB", "upstream loops", "slow-path updates")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print(f"| {r['clients']} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
              f"{r['delivered']:.1%} | {r['cpu']:.0f} % | {r['rss']:.0f} | "
              f"{r['loops']} (started {r['loops_started']}) | {r['parked']} |")


if __name__ == "__main__":
    main()
