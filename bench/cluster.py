"""Cluster fan-out benchmark (issue 12): N nodes x C clients on one stream at 10 Hz, on Redis,
against 1 process x C clients, in one run.

Each server is the real application in a subprocess (fake exchange "bench", uvicorn with
uvloop) whose fake exchange plays one ticker every 100 ms on a fixed schedule, stamped with
its send time and a sequence number, but only on a gateway that is watching: in a cluster
only the stream's owner watches, so the exchange side counts the upstream subscriptions
(nodes whose exchange was asked to watch). Node processes (``bench/load.mjs``, the official
socket.io-client) open C clients per server. Per row: delivered % of the exchange updates
sent in the window (by sequence, every client), lag p50/p99 (client receipt minus the send
stamp), CPU of every node and of redis-server, upstream subscriptions and live loops.

    .venv/bin/python bench/cluster.py                          # 1 x 500 and 3 x 500
    .venv/bin/python bench/cluster.py --clients 200 --seconds 10
    .venv/bin/python bench/cluster.py --nodes 2 --clients 100 --seconds 5

Bounded: at most 1,500 clients in all, every wait has a time limit. Not run in CI. Target
(issue 12): 1 upstream subscription, >= 99 % delivered, cluster p99 <= 1.5x the single
process at the same clients per node.
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT_MODULES = ROOT / "tests" / "e2e" / "js"
LOAD_CLIENT = ROOT / "bench" / "load.mjs"
TOKEN = "bench-token-not-a-secret"
RATE_HZ = 10
CLIENTS_PER_LOADER = 250
"""socket.io-client connections per node.js process (as bench/fanout.py)."""
MAX_TOTAL_CLIENTS = 1500
TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 120.0


# -- server side (runs in a subprocess) ------------------------------------------------------


async def serve(port: int, stats_path: str, redis_url: str | None) -> None:
    """One node: the application on ``port`` with a fake exchange playing 10 Hz tickers."""
    import uvicorn

    sys.path.insert(0, str(ROOT))
    from dependency_injector import providers

    from app.adapters.backends import registry_from_backends
    from app.container import build_container
    from app.entrypoints.asgi import create_app
    from app.observability import configure_logging
    from app.settings import load_settings
    from app.testing.fakes import FakeBackend

    env = {"API_TOKEN": TOKEN, **({"REDIS_URL": redis_url} if redis_url else {})}
    settings = load_settings(
        env=env,
        overrides={
            "log_level": "warning",
            "socket_port": 0,
            "streams": {"max_subscriptions_per_socket": 10},
        },
    )
    configure_logging("warning")
    backend = FakeBackend(name="fake", exchange_ids=frozenset({"bench"}))
    container = build_container(settings)
    container.registry.override(providers.Object(registry_from_backends([backend], settings)))
    application = create_app(settings, container)
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        loop="uvloop",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    pushes: list[tuple[int, float]] = []
    """(sequence, sentAt ms) of the updates this node's exchange sent to a watcher."""

    async def exchange() -> None:
        period = 1 / RATE_HZ
        next_at = time.monotonic()
        sequence = 0
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            for gateway in backend.created:
                if not gateway.pending_watchers("ticker", "BTC/USDT"):
                    continue  # this node does not watch (not the owner, or nobody yet)
                sequence += 1
                ticker = gateway.ticker_for("BTC/USDT")
                ticker["sentAt"] = time.time_ns() / 1e6
                ticker["sequence"] = port * 1_000_000 + sequence  # unique across nodes
                if gateway.push("ticker", "BTC/USDT", ticker) > 0:
                    pushes.append((ticker["sequence"], ticker["sentAt"]))
                    del pushes[:-3000]

    async def report() -> None:
        while True:
            await asyncio.sleep(0.5)
            hub = container.stream_hub()
            stats = {
                **hub.stats(),
                "watch_calls": sum(g.calls["watch_ticker"] for g in backend.created),
                "watching": sum(
                    1 for g in backend.created if g.pending_watchers("ticker", "BTC/USDT")
                ),
                "pushes": pushes,
            }
            Path(stats_path).write_text(json.dumps(stats))

    helpers = [asyncio.create_task(exchange()), asyncio.create_task(report())]
    try:
        await server.serve()
    finally:
        for task in helpers:
            task.cancel()


# -- driver ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


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
    raise RuntimeError(f"server on port {port} did not start")


@dataclass
class Row:
    nodes: int
    clients_per_node: int
    redis: bool
    p50: float = math.nan
    p99: float = math.nan
    delivered: float = math.nan
    updates: int = 0
    node_cpu: list[float] = field(default_factory=list)
    redis_cpu: float = math.nan
    upstreams: int = 0
    watch_calls: int = 0
    loops: int = 0
    node_lags: list[tuple[float, float, bool]] = field(default_factory=list)
    """Per node: lag p50, p99 (ms) of its clients, and whether its exchange was watched."""


async def run_row(
    nodes: int, clients_per_node: int, seconds: float, warmup: float, *, redis: bool
) -> Row:
    """``nodes`` servers (on one fresh redis-server when ``redis``), ``clients_per_node``
    clients on each, all on the one ticker stream, measured for ``seconds``."""
    sys.path.insert(0, str(ROOT))
    from tests.support.redis_server import RedisServer

    row = Row(nodes, clients_per_node, redis)
    redis_server = RedisServer().start() if redis else None
    servers: list[tuple[int, subprocess.Popen[bytes], str]] = []
    loaders: list[asyncio.subprocess.Process] = []
    loader_node: list[int] = []
    try:
        for _ in range(nodes):
            port = free_port()
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
                stats_path = handle.name
            command = [sys.executable, __file__, "--serve", str(port), stats_path]
            if redis_server is not None:
                command.append(redis_server.url)
            process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
            servers.append((port, process, stats_path))
        for port, _, _ in servers:
            await wait_port(port)
        for index, (port, _, _) in enumerate(servers):
            env = {
                **os.environ,
                "SERVER_URL": f"http://127.0.0.1:{port}",
                "API_TOKEN": TOKEN,
                "CLIENT_MODULES": str(CLIENT_MODULES),
                "DATA_TYPE": "ticker",
                "VIEW": "{}",
                "JOIN": "0",
            }
            left = clients_per_node
            while left > 0:
                n = min(CLIENTS_PER_LOADER, left)
                left -= n
                loader_node.append(index)
                loaders.append(
                    await asyncio.create_subprocess_exec(
                        "node",
                        str(LOAD_CLIENT),
                        env={**env, "CLIENTS": str(n)},
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                    )
                )
        for loader in loaders:
            assert loader.stdout is not None
            line = await asyncio.wait_for(loader.stdout.readline(), READY_TIMEOUT_S)
            if line.strip() != b"READY":
                raise RuntimeError(f"load client failed: {line!r}")
        await asyncio.sleep(warmup)
        start_ms = time.time() * 1000 + 200
        end_ms = start_ms + seconds * 1000
        for loader in loaders:
            assert loader.stdin is not None
            loader.stdin.write(f"GO {start_ms} {end_ms}\n".encode())
            await loader.stdin.drain()
        await asyncio.sleep(0.2)
        pids = [process.pid for _, process, _ in servers]
        before = [cpu_seconds(pid) for pid in pids]
        redis_before = (
            cpu_seconds(redis_server.process.pid) if redis_server and redis_server.process else 0.0
        )
        t_before = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t_before
        row.node_cpu = [
            (cpu_seconds(pid) - b) / elapsed * 100 for pid, b in zip(pids, before, strict=True)
        ]
        if redis_server is not None and redis_server.process is not None:
            row.redis_cpu = (cpu_seconds(redis_server.process.pid) - redis_before) / elapsed * 100
        # Loops while the clients are still there (they leave 300 ms after the window) ...
        during = [json.loads(Path(path).read_text()) for _, _, path in servers]
        await asyncio.sleep(0.6)  # ... and every push of the window (rewritten every 0.5 s)
        stats = [json.loads(Path(path).read_text()) for _, _, path in servers]
        lags: list[float] = []
        by_node: list[list[float]] = [[] for _ in servers]
        sequences: list[list[int]] = [[] for _ in servers]
        for loader, index in zip(loaders, loader_node, strict=True):
            out, _ = await asyncio.wait_for(loader.communicate(), 60)
            result = json.loads(out.decode().strip().splitlines()[-1])
            lags.extend(result["lags"])
            by_node[index].extend(result["lags"])
            sequences[index].extend(result["sequences"])
        # Exchange updates sent inside the window; how many of them every client got (by
        # sequence). On Redis every client should get every update, whichever node's exchange
        # sent it; independent processes (no Redis) each serve their own exchange's updates.
        windows = [
            {seq for seq, sent in s["pushes"] if start_ms <= sent <= end_ms - 300} for s in stats
        ]
        window = set().union(*windows)
        expected = 0
        got = 0
        for index, received in enumerate(sequences):
            reachable = window if redis else windows[index]
            expected += clients_per_node * len(reachable)
            got += sum(1 for seq in received if seq in reachable)
        row.delivered = got / expected if expected else math.nan
        row.updates = len(window)
        row.node_lags = [
            (percentile(values, 0.50), percentile(values, 0.99), s["watching"] > 0)
            for values, s in zip(by_node, during, strict=True)
        ]
        row.p50 = percentile(lags, 0.50)
        row.p99 = percentile(lags, 0.99)
        row.upstreams = sum(1 for s in stats if s["watch_calls"] > 0)
        row.watch_calls = sum(s["watch_calls"] for s in stats)
        row.loops = sum(s["watching"] for s in during)
        return row
    finally:
        for loader in loaders:
            if loader.returncode is None:
                loader.kill()
                await loader.wait()
        for _, process, _path in servers:
            process.terminate()
        for _, process, path in servers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            Path(path).unlink(missing_ok=True)
        if redis_server is not None:
            redis_server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3, help="cluster nodes (default 3)")
    parser.add_argument("--clients", type=int, nargs="*", default=[500], help="clients per node")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="skip the N independent processes row (same CPU contention, no Redis)",
    )
    parser.add_argument("--serve", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvloop

        port, stats_path, *rest = args.serve
        uvloop.run(serve(int(port), stats_path, rest[0] if rest else None))
        return
    if not 1 <= args.nodes <= 5:
        raise SystemExit("--nodes must be between 1 and 5")
    for clients in args.clients:
        if clients < 1 or clients * args.nodes > MAX_TOTAL_CLIENTS:
            raise SystemExit(f"at most {MAX_TOTAL_CLIENTS} clients in all (nodes x clients)")
    if not 1 <= args.seconds <= 60:
        raise SystemExit("--seconds must be between 1 and 60")
    if not (CLIENT_MODULES / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_MODULES, check=True, timeout=180
        )
    rows: list[Row] = []
    for clients in args.clients:
        rows.append(asyncio.run(run_row(1, clients, args.seconds, args.warmup, redis=False)))
        print(f"done: 1 x {clients} (one process)", file=sys.stderr)
        if args.control and args.nodes > 1:
            rows.append(
                asyncio.run(run_row(args.nodes, clients, args.seconds, args.warmup, redis=False))
            )
            print(f"done: {args.nodes} x {clients} (independent processes)", file=sys.stderr)
        rows.append(
            asyncio.run(run_row(args.nodes, clients, args.seconds, args.warmup, redis=True))
        )
        print(f"done: {args.nodes} x {clients} (cluster)", file=sys.stderr)
    print_table(rows)


def print_table(rows: list[Row]) -> None:
    header = (
        "setup",
        "clients",
        "delivered (exchange updates)",
        "lag p50 ms",
        "lag p99 ms",
        "p99 vs one process",
        "p99 vs independent",
        "lag p50/p99 per node (* = watched)",
        "CPU per node",
        "Redis CPU",
        "upstream subscriptions (exchange side)",
        "exchange watchers at the end",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    single = {r.clients_per_node: r for r in rows if not r.redis and r.nodes == 1}
    control = {r.clients_per_node: r for r in rows if not r.redis and r.nodes > 1}
    for r in rows:
        base = single.get(r.clients_per_node)
        ratio = f"{r.p99 / base.p99:.2f}x" if r is not base and base and base.p99 else "-"
        other = control.get(r.clients_per_node)
        vs_control = f"{r.p99 / other.p99:.2f}x" if r.redis and other and other.p99 else "-"
        if r.redis:
            setup = f"{r.nodes} nodes on Redis"
        else:
            setup = "1 process" if r.nodes == 1 else f"{r.nodes} independent processes"
        per_node = " / ".join(
            f"{p50:.0f}/{p99:.0f}{'*' if watched else ''}" for p50, p99, watched in r.node_lags
        )
        print(
            f"| {setup} | {r.nodes} x {r.clients_per_node} | {r.delivered:.2%} of {r.updates} | "
            f"{r.p50:.1f} | {r.p99:.1f} | {ratio} | {vs_control} | {per_node} | "
            f"{' / '.join(f'{c:.0f} %' for c in r.node_cpu)} | "
            f"{'-' if math.isnan(r.redis_cpu) else f'{r.redis_cpu:.1f} %'} | "
            f"{r.upstreams} ({r.watch_calls} watch calls) | {r.loops} |"
        )


if __name__ == "__main__":
    main()
