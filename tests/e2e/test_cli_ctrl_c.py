"""Ctrl-C on `./scripts/serve` (SIGINT to `profitmaker-server`) is a clean stop, no traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from contextlib import closing
from pathlib import Path

import httpx

from app.testing import eventually

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_sigint_stops_the_server_gracefully_without_a_traceback(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "API_TOKEN": "ctrl-c-test-token", "LOG_FORMAT": "json"}
    env["PROFITMAKER_CONFIG"] = ""
    env.pop("SOCKET_PORT", None)
    with log.open("w") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "--port",
            str(port),
            "--socket-port",
            "0",
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(timeout=1) as client:

            async def healthy() -> bool:
                if process.returncode is not None:
                    raise AssertionError(f"server exited: {log.read_text()}")
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/health")
                except httpx.TransportError:
                    return False
                return response.status_code == 200

            await eventually(healthy, timeout=30, interval=0.1, message="the server answers")
        process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = log.read_text()
    assert '"server_stopped"' in text  # the graceful shutdown ran (positive control)
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-2000:]
    assert code == 0
