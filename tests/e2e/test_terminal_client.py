"""Issue 10: the terminal's current client (Socket.IO at port + 1) against the real server.

The server runs as the operator starts it (``python -m app.cli``, the simulated exchange),
the client is the official socket.io-client driven by node.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.testing import eventually
from tests.e2e.js_client import JS_DIR, ensure_node_modules, node_or_none

NODE = node_or_none()
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: JS client e2e skipped")
TOKEN = "terminal-test-token-not-a-secret"
ROOT = Path(__file__).resolve().parents[2]
TICKER = {
    "exchangeId": "sim",
    "symbol": "BTC/USDT",
    "dataType": "ticker",
    "config": {"exchangeId": "sim", "marketType": "spot", "ccxtType": "pro"},
}


@pytest.fixture(scope="module")
def js_ready() -> None:
    ensure_node_modules()


def port_pair() -> int:
    """A free loopback port whose neighbour (port + 1) is free too."""
    for _ in range(50):
        with closing(socket.socket()) as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with closing(socket.socket()) as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free pair of loopback ports")


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events() if e.get("event") == name), None)


@asynccontextmanager
async def cli_server(tmp_path: Path, *args: str) -> AsyncIterator[Server]:
    """``python -m app.cli --port P ...`` with JSON logs; stopped with SIGTERM at the end."""
    port = port_pair()
    log = tmp_path / "server.log"
    env = {**os.environ, "API_TOKEN": TOKEN, "LOG_FORMAT": "json", "PROFITMAKER_CONFIG": ""}
    env.pop("SOCKET_PORT", None)
    with log.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "--port",
            str(port),
            *args,
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    server = Server(process, port, log)
    try:
        async with httpx.AsyncClient(timeout=1) as client:

            async def healthy() -> bool:
                if process.returncode is not None:
                    raise AssertionError(f"server exited: {log.read_text()}")
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
                except httpx.TransportError:
                    return False

            # At most ~30 s on a loaded machine.
            await eventually(
                healthy, timeout=30, interval=0.1, message="the server answers /health"
            )
        yield server
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def run_node(script: str, **env: str) -> dict[str, Any]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(JS_DIR / script),
        cwd=JS_DIR,
        env={**os.environ, "API_TOKEN": TOKEN, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, (out.decode(), err.decode())
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def assert_terminal_flow(seen: dict[str, Any], request: dict[str, Any], short_id: str) -> None:
    assert seen["authenticated"] and not seen["errors"]
    assert seen["subscribed"]["symbol"] == request["symbol"]
    assert seen["data"]["subscriptionId"] == seen["subscribed"]["subscriptionId"]
    assert seen["data"]["symbol"] == request["symbol"] and seen["data"]["data"]
    assert seen["unsubscribeId"] == short_id
    assert seen["unsubscribed"] == {"subscriptionId": short_id}


async def test_terminal_client_streams_on_port_plus_one_and_unsubscribes_by_short_id(
    js_ready: None, tmp_path: Path
) -> None:
    async with cli_server(tmp_path) as server:
        socket_url = f"http://127.0.0.1:{server.port + 1}"
        ohlcv = {**TICKER, "dataType": "ohlcv", "timeframe": "1m"}
        seen = await run_node(
            "terminal_client.mjs",
            SOCKET_URL=socket_url,
            SUBSCRIBE=json.dumps(ohlcv),
            NAMESPACE="/not-served",
        )
        assert_terminal_flow(seen, ohlcv, "sim:BTC/USDT:ohlcv:1m")
        assert seen["data"]["timeframe"] == "1m"
        assert seen["namespaceError"] == "Invalid namespace"
        # Same hub on both ports: the HTTP port streams too, and REST stays on the HTTP port.
        seen = await run_node(
            "terminal_client.mjs",
            SOCKET_URL=f"http://127.0.0.1:{server.port}",
            SUBSCRIBE=json.dumps(TICKER),
        )
        assert_terminal_flow(seen, TICKER, "sim:BTC/USDT:ticker")
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(f"http://127.0.0.1:{server.port}/health")).status_code == 200
            other = await client.get(f"{socket_url}/health")
        assert other.status_code == 404 and other.json()["errorType"] == "NotFound"
        listening = server.event("server_listening")
        assert listening is not None and listening["socket_port"] == server.port + 1


async def test_busy_socket_port_is_a_warning_and_the_http_port_still_streams(
    js_ready: None, tmp_path: Path
) -> None:
    with closing(socket.socket()) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        async with cli_server(tmp_path, "--socket-port", str(busy)) as server:
            warning = server.event("socket_port_unavailable")
            assert warning is not None and warning["socket_port"] == busy
            assert warning["level"] == "warning"
            seen = await run_node(
                "terminal_client.mjs",
                SOCKET_URL=f"http://127.0.0.1:{server.port}",
                SUBSCRIBE=json.dumps(TICKER),
            )
            assert_terminal_flow(seen, TICKER, "sim:BTC/USDT:ticker")


async def test_socket_port_zero_opens_no_second_port(js_ready: None, tmp_path: Path) -> None:
    async with cli_server(tmp_path, "--socket-port", "0") as server:
        listening = server.event("server_listening")
        assert listening is not None and listening["socket_port"] is None
        async with httpx.AsyncClient(timeout=2) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(
                    f"http://127.0.0.1:{server.port + 1}/socket.io/?EIO=4&transport=polling"
                )
            # positive control: the HTTP port answers the same Socket.IO handshake
            handshake = await client.get(
                f"http://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=polling"
            )
        assert handshake.status_code == 200 and '"sid"' in handshake.text


async def test_sigterm_with_socketio_clients_connected_stops_promptly(
    js_ready: None, tmp_path: Path
) -> None:
    assert NODE is not None
    async with cli_server(tmp_path) as server:
        holder = await asyncio.create_subprocess_exec(
            NODE,
            str(JS_DIR / "hold_clients.mjs"),
            cwd=JS_DIR,
            env={
                **os.environ,
                "API_TOKEN": TOKEN,
                "SUBSCRIBE": json.dumps(TICKER),
                "SOCKET_URL": f"http://127.0.0.1:{server.port + 1}",
                "TRANSPORT_SETS": "websocket;polling;polling,websocket",
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert holder.stdout is not None
        ready = json.loads(await asyncio.wait_for(holder.stdout.readline(), 20))
        assert ready == {"ready": 3}
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.process.wait(), 30)
        took = time.monotonic() - sent
        lines = [json.loads(await asyncio.wait_for(holder.stdout.readline(), 10)) for _ in range(3)]
        holder.kill()
        await holder.wait()
    stopping, stopped = server.event("server_stopping"), server.event("server_stopped")
    assert stopping is not None and stopped is not None

    def at(event: dict[str, Any]) -> float:
        return datetime.fromisoformat(event["timestamp"]).timestamp()

    assert at(stopped) - at(stopping) < 3, (stopping, stopped)
    assert all("disconnected" in line for line in lines)
    # Promptly: well under the ~20 s reported (the grace period for in-flight requests is 10 s).
    assert took < 8, f"SIGTERM to exit took {took:.1f}s"
