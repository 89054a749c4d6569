"""Socket.IO fan-out benchmark: N node socket.io-client clients on one stream at 10 updates/s.

Starts the real application (fake exchange "bench", uvicorn with uvloop, one process) in a
subprocess that plays the exchange: one ticker update every 100 ms on a fixed schedule, each
stamped with its send time. Node processes open the clients; lag = client receipt minus the
stamp (exchange event to client). Reports lag p50/p99, delivery (of emits, and of exchange
updates counted by sequence number), updates the exchange emitted while no watch was pending,
join-to-first-data latency of late joiners on the running stream, server CPU and RSS, and the
number of upstream loops. Then the bytes per second per client for a 50-level book at 10 Hz
as full, depth 20, delta and delta depth 20 (issue 13), and where those bytes go per event
(envelope, data header, levels; snapshots and empty deltas counted: ADR 0160). Not run in CI.

    .venv/bin/python bench/fanout.py            # 100 and 500 clients, 3 runs each
    .venv/bin/python bench/fanout.py --clients 500 --per-node 500 --trace --repeat 1
    .venv/bin/python bench/fanout.py --clients 100 --book-clients 50 --seconds 5
    .venv/bin/python bench/fanout.py --clients --book-clients 50   # the order book rows only

Client layout: ``--per-node`` is how many clients one node process opens (default 250 and
500: with 500 clients both layouts run, the second being the issue's "500 socket.io-client
connections in one node process"). ``--repeat`` runs each case that many times and reports
the median of each figure. ``--trace`` adds bench-only timestamps along the server's path
(``bench/fanout_trace.py``) and prints where the time goes; ``--profile DIR`` writes a
cProfile of the server during the measured window. ``--compare`` runs each ticker case
also with the fan-out fixes of ADR 0130 undone (``BENCH_STOCK=all``): before and after in
one run.

Environment knobs for comparisons: BENCH_DEFLATE=on (uvicorn's per-message deflate, off by
default here as in Node's socket.io), BENCH_GC=default (undo the app's GC tuning),
BENCH_WS=auto|websockets-sansio|wsproto (uvicorn's websocket implementation),
BENCH_STOCK=poll,... (undo named fixes), BENCH_CLIENT_BYTES=1 (the clients stringify every
ticker event to count its bytes, as this bench did before: that work delays the events
queued behind it in the client process; on by default for the order book cases only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
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


async def serve(port: int, stats_path: str, profiler: Any = None) -> None:
    import signal

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
        application,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        loop="uvloop",
        ws=os.environ.get("BENCH_WS", "websockets-sansio"),
        ws_per_message_deflate=os.environ.get("BENCH_DEFLATE") == "on",
    )
    server = uvicorn.Server(config)

    undo_fixes(os.environ.get("BENCH_STOCK", ""))
    trace = None
    if os.environ.get("BENCH_TRACE") == "on":
        from bench.fanout_trace import FanoutTrace

        trace = FanoutTrace()
        trace.install()

    def window_start() -> None:
        if profiler is not None:
            profiler.enable()

    def window_end() -> None:
        """Stop the profile; write the trace beside the stats file."""
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(stats_path + ".prof")
        if trace is not None:
            Path(stats_path + ".trace").write_text(json.dumps(trace.dump()))
        Path(stats_path + ".done").write_text("")

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR2, window_start)
    loop.add_signal_handler(signal.SIGUSR1, window_end)

    pushes: list[tuple[int, float, bool]] = []
    """(sequence, sentAt ms, a watch was pending) of the last pushes: the exchange updates a
    client should get; one sent while no watch was pending is lost before any fan-out."""

    async def exchange() -> None:
        """One ticker every 100 ms on a fixed schedule, stamped with its send time."""
        period = 1 / RATE_HZ
        next_at = time.monotonic()
        sequence = 0
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            for gateway in backend.created:
                if not gateway.calls["watch_ticker"]:
                    continue  # nobody has subscribed yet
                sequence += 1
                ticker = gateway.ticker_for("BTC/USDT")
                ticker["sentAt"] = time.time_ns() / 1e6
                ticker["sequence"] = sequence
                accepted = gateway.push("ticker", "BTC/USDT", ticker) > 0
                pushes.append((sequence, ticker["sentAt"], accepted))
                del pushes[:-2000]

    async def book_exchange() -> None:
        """A 50-level book at 10 Hz, a few levels changing each time (as a real book does)."""
        book = MovingBook(seed=1)
        period = 1 / RATE_HZ
        next_at = time.monotonic()
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            for gateway in backend.created:
                if gateway.pending_watchers("orderbook", "BTC/USDT"):
                    gateway.push("orderbook", "BTC/USDT", book.step())

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
                "pushes": pushes,
            }
            Path(stats_path).write_text(json.dumps(stats))

    async def default_gc() -> None:
        """BENCH_GC=default: undo the app's collector tuning, to compare."""
        await asyncio.sleep(1)
        _default_gc()

    helpers = [
        asyncio.create_task(exchange()),
        asyncio.create_task(book_exchange()),
        asyncio.create_task(report()),
    ]
    if os.environ.get("BENCH_GC") == "default":
        helpers.append(asyncio.create_task(default_gc()))
    try:
        await server.serve()
    finally:
        for task in helpers:
            task.cancel()


FIXES = ("poll", "direct")
"""Fan-out fixes of ADR 0130 that ``BENCH_STOCK`` / ``--compare`` can undo in the server:
``poll``: engine.io's own queue wait (``asyncio.wait_for``) instead of ``BoundedSocket``'s;
``direct``: every packet through the writer task's queue (no ``write_now``)."""


def undo_fixes(names: str) -> None:
    """Bench-only: put the library's stock code back for the named fixes (before/after)."""
    wanted = {name for name in names.split(",") if name}
    if "all" in wanted:
        wanted = set(FIXES)
    if "poll" in wanted:
        from engineio import async_socket

        from app.adapters.socketio.engine import BoundedSocket

        async def stock_poll(self: Any) -> Any:
            return await async_socket.AsyncSocket.poll(self)

        BoundedSocket._collect = stock_poll  # type: ignore[method-assign]
    if "direct" in wanted:
        from app.adapters.socketio.engine import BoundedSocket

        BoundedSocket.write_now = lambda self, text: False  # type: ignore[method-assign]


class MovingBook:
    """50 levels a side around a price that drifts; 1-6 levels change per side per step."""

    def __init__(self, seed: int) -> None:
        import random

        self.rng = random.Random(seed)
        self.mid = 30_000.0
        self.bids = {self.mid - 0.5 - i * 0.5: 1.0 + i / 10 for i in range(50)}
        self.asks = {self.mid + 0.5 + i * 0.5: 1.0 + i / 10 for i in range(50)}
        self.n = 0

    def step(self) -> dict[str, Any]:
        self.n += 1
        for side, sign in ((self.bids, -1), (self.asks, 1)):
            for _ in range(self.rng.randint(1, 6)):
                price = self.mid + sign * (0.5 + 0.5 * self.rng.randint(0, 49))
                side[price] = round(self.rng.uniform(0.1, 9.9), 4)
        return {
            "symbol": "BTC/USDT",
            "timestamp": int(time.time() * 1000),
            "datetime": None,
            "nonce": self.n,
            "bids": [[p, a] for p, a in sorted(self.bids.items(), reverse=True)],
            "asks": [[p, a] for p, a in sorted(self.asks.items())],
        }


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


async def run_case(
    clients: int,
    seconds: float,
    warmup: float,
    *,
    data_type: str = "ticker",
    view: dict[str, Any] | None = None,
    join: int = 0,
    per_node: int = CLIENTS_PER_NODE,
    trace: bool = False,
    profile: Path | None = None,
    stock: str = "",
) -> dict[str, Any]:
    """One measurement: ``clients`` on one stream for ``seconds`` (``per_node`` of them per
    node process), then ``join`` late joiners (in a node process of their own) measuring
    subscribe-to-first-data on the running stream."""
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        stats_path = handle.name
    server_env = {**os.environ, "BENCH_TRACE": "on" if trace else "off", "BENCH_STOCK": stock}
    command = [sys.executable, __file__, "--serve", str(port), stats_path]
    if profile is not None:
        command.append("--profile-server")
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measurement
        command, cwd=ROOT, stdout=subprocess.DEVNULL, env=server_env
    )
    nodes: list[asyncio.subprocess.Process] = []
    load = os.getloadavg()[0]
    try:
        await wait_port(port)
        env = {
            **os.environ,
            "SERVER_URL": f"http://127.0.0.1:{port}",
            "API_TOKEN": TOKEN,
            "CLIENT_MODULES": str(CLIENT_MODULES),
            "DATA_TYPE": data_type,
            "VIEW": json.dumps(view or {}),
            "BYTES": os.environ.get("BENCH_CLIENT_BYTES", "1" if data_type == "orderbook" else "0"),
        }
        layout = [per_node] * (clients // per_node)
        if clients % per_node:
            layout.append(clients % per_node)
        # Late joiners get a node process of their own, as a browser tab opened on the side
        # has: in a process that already reads hundreds of sockets they would measure that
        # process's backlog, not the server's answer.
        for n, joiners in [(n, 0) for n in layout] + ([(0, join)] if join else []):
            node = await asyncio.create_subprocess_exec(
                "node",
                str(ROOT / "bench" / "load.mjs"),
                env={
                    **env,
                    "CLIENTS": str(n),
                    "JOIN": str(joiners),
                    "HOLD_MS": "3000" if n and join else "0",
                },
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
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
        server.send_signal(signal.SIGUSR2)  # window start: the profile, if any
        cpu_before, t_before = cpu_seconds(server.pid), time.monotonic()
        rss_peak = 0.0
        while time.monotonic() - t_before < seconds:
            rss_peak = max(rss_peak, rss_mib(server.pid))
            await asyncio.sleep(0.5)
        cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - t_before)
        server.send_signal(signal.SIGUSR1)  # window end: profile and trace written
        live_stats = json.loads(Path(stats_path).read_text())
        lags: list[float] = []
        received = 0
        total_bytes = 0
        wire_bytes = 0
        joins: list[float] = []
        cached = 0
        per_client_sequences: list[int] = []
        book: dict[str, dict[str, int]] = {}
        await asyncio.sleep(0.6)  # the server's stats file is rewritten every 0.5 s
        stats = json.loads(Path(stats_path).read_text())
        for node in nodes:
            out, _ = await asyncio.wait_for(node.communicate(), 60)
            result = json.loads(out.decode().strip().splitlines()[-1])
            lags.extend(result["lags"])
            received += result["received"]
            total_bytes += result["bytes"]
            wire_bytes += result.get("wire", 0)
            joins.extend(result["join"]["latencies"])
            cached += result["join"]["cached"]
            per_client_sequences.extend(result["sequences"])
            for kind, counts in result.get("book", {}).items():
                mine = book.setdefault(kind, dict.fromkeys(counts, 0))
                for key, value in counts.items():
                    mine[key] += value
        # Exchange updates sent inside the window (by their stamp), and how many of them
        # each client got: delivered % of exchange updates, independent of the emit rate.
        in_window = [p for p in stats["pushes"] if start_ms <= p[1] <= end_ms - 300]
        window = {seq for seq, _sent, _accepted in in_window}
        got = sum(1 for seq in per_client_sequences if seq in window)
        expected = clients * seconds * RATE_HZ
        row: dict[str, Any] = {
            "data_type": data_type,
            "view": view or {},
            "nodes": len(layout),
            "variant": f"stock {stock}" if stock else "as built",
            "load": load,
            "exchange_delivered": got / (clients * len(window)) if window else math.nan,
            "exchange_updates": len(window),
            "missed": sum(1 for _seq, _sent, accepted in in_window if not accepted),
            "bytes_per_client_s": total_bytes / clients / seconds,
            "wire_per_client_s": wire_bytes / clients / seconds,
            "events_per_client_s": received / clients / seconds,
            "join_n": len(joins),
            "join_p50": percentile(joins, 0.50),
            "join_p99": percentile(joins, 0.99),
            "join_cached": cached,
            "clients": clients,
            "p50": percentile(lags, 0.50),
            "p99": percentile(lags, 0.99),
            "max": max(lags) if lags else math.nan,
            "delivered": received / expected if expected else math.nan,
            "cpu": cpu * 100,
            "rss": rss_peak,
            "loops": live_stats["loops"],
            "loops_started": live_stats["loops_started"],
            "parked": stats["parked_updates"],
            "book": book,
        }
        if trace and data_type == "ticker":
            from bench.fanout_trace import summary

            raw = json.loads(await _written(Path(stats_path + ".trace")))
            row["trace"] = summary(raw, window, lags)
        if profile is not None:
            await _written(Path(stats_path + ".done"))
            target = profile / f"server-{clients}-{len(layout)}nodes-{data_type}.prof"
            Path(stats_path + ".prof").replace(target)
            row["profile"] = str(target)
        return row
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
        for suffix in ("", ".trace", ".done", ".prof"):
            Path(stats_path + suffix).unlink(missing_ok=True)


async def _written(path: Path, timeout: float = 10) -> str:
    """A file the server writes on SIGUSR1, once it is complete (``.done`` comes last)."""
    done = Path(str(path).rsplit(".", 1)[0] + ".done")
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not write {path.name}")
        await asyncio.sleep(0.05)
    return path.read_text()


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric figure's median over repeated runs of one case (others: the first's);
    ``p99_range`` keeps the spread of p99 visible."""
    out = dict(rows[0])
    for key, value in rows[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(r[key] for r in rows)
        elif isinstance(value, int) and not isinstance(value, bool):
            out[key] = round(statistics.median(r[key] for r in rows))
    out["p99_range"] = (min(r["p99"] for r in rows), max(r["p99"] for r in rows))
    out["runs"] = len(rows)
    if "trace" in rows[0]:
        out["trace"] = {
            stage: tuple(statistics.median(r["trace"][stage][i] for r in rows) for i in (0, 1))
            if isinstance(rows[0]["trace"][stage], tuple | list)
            else statistics.median(r["trace"][stage] for r in rows)
            for stage in rows[0]["trace"]
        }
    return out


def layouts(clients: int, per_node: list[int]) -> list[int]:
    """The distinct client layouts to run: clients per node process, one per node count."""
    seen: dict[int, int] = {}
    for n in per_node:
        seen.setdefault(math.ceil(clients / n), min(n, clients))
    return list(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="*", default=[100, 500])
    parser.add_argument(
        "--per-node",
        type=int,
        nargs="*",
        default=[CLIENTS_PER_NODE, 500],
        help="clients per node process; each distinct layout is run (default 250 and 500)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; medians shown")
    parser.add_argument("--join", type=int, default=20, help="late joiners per ticker case")
    parser.add_argument("--trace", action="store_true", help="bench-only stage timestamps")
    parser.add_argument("--profile", type=Path, help="directory for cProfile files")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="each ticker case also with the fan-out fixes undone (before/after, one run)",
    )
    parser.add_argument(
        "--book-clients", type=int, default=50, help="clients per order book format case (0: skip)"
    )
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "STATS"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # bench.fanout_trace, app
    if args.serve:
        import uvloop

        profiler = None
        if args.profile_server:
            import cProfile

            profiler = cProfile.Profile()
        uvloop.run(serve(int(args.serve[0]), args.serve[1], profiler))
        return
    if not (CLIENT_MODULES / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_MODULES, check=True, timeout=180
        )
    if not 1 <= args.repeat <= 10:
        raise SystemExit("repeat must be between 1 and 10")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    rows = []
    for clients in args.clients:
        if not 1 <= clients <= 1000:
            raise SystemExit("clients must be between 1 and 1000")
        for per_node in layouts(clients, args.per_node):
            variants = ("all", "") if args.compare else ("",)
            runs: dict[str, list[dict[str, Any]]] = {stock: [] for stock in variants}
            for _ in range(args.repeat):  # variants interleaved: load drifts hit both alike
                for stock in variants:
                    case = run_case(
                        clients,
                        args.seconds,
                        args.warmup,
                        join=args.join,
                        per_node=per_node,
                        trace=args.trace,
                        profile=args.profile,
                        stock=stock,
                    )
                    r = asyncio.run(case)
                    runs[stock].append(r)
                    print(
                        f"run: {clients} clients, {r['nodes']} node(s), {r['variant']}: "
                        f"p50 {r['p50']:.1f} p99 {r['p99']:.1f} CPU {r['cpu']:.0f} % "
                        f"load {r['load']:.2f}",
                        file=sys.stderr,
                    )
            rows.extend(median_row(variant_runs) for variant_runs in runs.values())
    if rows:
        print_ticker(rows, args.repeat, args.seconds, args.trace)
    if args.book_clients <= 0:
        return
    if not 1 <= args.book_clients <= 500:
        raise SystemExit("book clients must be between 1 and 500")
    run_books(args.book_clients, args.seconds, args.warmup)


def print_ticker(rows: list[dict[str, Any]], repeat: int, seconds: float, trace: bool) -> None:
    """The ticker table: one row per (clients, layout, variant), medians of the runs."""
    print(f"Ticker at {RATE_HZ} Hz, medians of {repeat} run(s) of {seconds:.0f} s:")
    header = (
        "clients",
        "node procs",
        "server",
        "lag p50 ms",
        "lag p99 ms (range)",
        "lag max ms",
        "delivered (emits)",
        "delivered (exchange updates)",
        "missed by watch",
        "join p50/p99 ms (cached)",
        "server CPU",
        "peak RSS MiB",
        "upstream loops",
        "slow-path updates",
        "load avg",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        low, high = r["p99_range"]
        print(
            f"| {r['clients']} | {r['nodes']} | {r['variant']} | {r['p50']:.1f} | {r['p99']:.1f} "
            f"({low:.0f}-{high:.0f}) | {r['max']:.1f} | "
            f"{r['delivered']:.1%} | {r['exchange_delivered']:.2%} of "
            f"{r['exchange_updates']:.0f} | {r['missed']:.0f} | "
            f"{r['join_p50']:.1f} / {r['join_p99']:.1f} ({r['join_cached']:.0f}/"
            f"{r['join_n']:.0f}) | {r['cpu']:.0f} % | {r['rss']:.0f} | "
            f"{r['loops']:.0f} (started {r['loops_started']:.0f}) | {r['parked']:.0f} | "
            f"{r['load']:.2f} |"
        )
    if trace:
        print_trace(rows)


def run_books(clients: int, seconds: float, warmup: float) -> None:
    """Bytes per second per client for each order book view, then where they go."""
    books = []
    for name, view in BOOK_VIEWS:
        result = asyncio.run(run_case(clients, seconds, warmup, data_type="orderbook", view=view))
        books.append((name, result))
        print(f"done: book {name}", file=sys.stderr)
    full = books[0][1]["bytes_per_client_s"]
    print()
    print(f"Order book, 50 levels a side, {RATE_HZ} updates/s, {clients} clients:")
    full_wire = books[0][1]["wire_per_client_s"]
    print(
        "| subscription | events/s per client | bytes/s per client | vs full "
        "| wire bytes/s per client | vs full | server CPU |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in books:
        print(
            f"| {name} | {r['events_per_client_s']:.1f} | {r['bytes_per_client_s']:,.0f} | "
            f"{full / r['bytes_per_client_s']:.2f}x smaller | {r['wire_per_client_s']:,.0f} | "
            f"{full_wire / r['wire_per_client_s']:.2f}x smaller | {r['cpu']:.0f} % |"
        )
    print_book_bytes(books)


def print_book_bytes(books: list[tuple[str, dict[str, Any]]]) -> None:
    """Where an order book event's bytes go (ADR 0160), per subscription and event kind:
    the envelope (the original server's ``data`` event around ``data``), the data header
    (``data`` without its level lists), the level lists; as the clients count them."""
    print()
    print("Where the bytes go, per event (characters of the event's JSON, as counted above):")
    header = (
        "subscription",
        "kind",
        "events",
        "share",
        "empty",
        "levels per event",
        "envelope",
        "data header",
        "levels",
        "total",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, r in books:
        kinds = r["book"]
        events = sum(k["events"] for k in kinds.values())
        for kind, k in sorted(kinds.items()):
            n = max(1, k["events"])
            total = (k["envelope"] + k["header"] + k["levelBytes"]) / n
            print(
                f"| {name} | {kind} | {k['events']} | {k['events'] / max(1, events):.1%} | "
                f"{k['empty']} | {k['levels'] / n:.2f} | {k['envelope'] / n:.1f} | "
                f"{k['header'] / n:.1f} | {k['levelBytes'] / n:.1f} | {total:.1f} |"
            )


def print_trace(rows: list[dict[str, Any]]) -> None:
    """Where the time goes: each stage's p50/p99 in ms after the exchange's stamp."""
    print()
    print("Where the time goes (ms after the exchange stamped the update; p50 / p99):")
    header = (
        "clients",
        "node procs",
        "server",
        "upstream loop gets it",
        "encoded + queued to all",
        "writer task wakes",
        "websocket write done",
        "client receives",
        "first-to-last write",
        "packets per wake",
        "written by the publisher",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        t = r["trace"]
        cells = [f"{t[s][0]:.1f} / {t[s][1]:.1f}" for s in STAGES]
        print(
            f"| {r['clients']} | {r['nodes']} | {r['variant']} | "
            + " | ".join(cells)
            + f" | {t['batch_mean']:.2f} | {t['direct']:.0f} |"
        )


STAGES = ("loop", "published", "woke", "written", "received", "write_span")


BOOK_VIEWS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("full", {}),
    ("depth 20", {"depth": 20}),
    ("delta", {"format": "delta"}),
    ("delta, depth 20", {"format": "delta", "depth": 20}),
)


if __name__ == "__main__":
    main()
