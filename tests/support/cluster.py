"""Cluster nodes for tests and benchmarks: real server processes sharing one Redis (issue 12).

Every node runs ``python -m app.cli`` with the same config file, API token and ``REDIS_URL``,
on its own loopback port (Socket.IO on the same port; no second port). ``kill()`` is a
SIGKILL (an owner that dies without a word); ``stop()`` a graceful SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from app.testing import eventually_sync
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 40.0


def toml_value(value: Any) -> str:
    """A Python value as a TOML value (tables inline); None values are left out."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items() if v is not None
        )
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_document(tables: dict[str, dict[str, Any]]) -> str:
    """``{"": {...top level...}, "exchanges.binance": {"ccxt": {...}}}`` as TOML text."""
    out: list[str] = []
    for name, body in tables.items():
        if name:
            out.append(f"[{name}]")
        out += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in body.items() if v is not None]
    return "\n".join(out) + "\n"


class Node:
    """One server process of the cluster."""

    def __init__(self, index: int, process: subprocess.Popen[bytes], port: int, log: Path):
        self.index = index
        self.process = process
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def streams(self, token: str) -> dict[str, Any]:
        """``GET /api/streams`` of this node (its ``data``)."""
        headers = {"Authorization": f"Bearer {token}"}
        response = httpx.get(f"{self.url}/api/streams", headers=headers, timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()["data"]
        return data

    async def astreams(self, token: str) -> dict[str, Any]:
        """``GET /api/streams`` without blocking the event loop (an emulator may run in it)."""
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{self.url}/api/streams", headers=headers)
        response.raise_for_status()
        data: dict[str, Any] = response.json()["data"]
        return data

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no lease given up, no goodbye."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_nodes(
    count: int,
    *,
    config: str,
    redis_url: str,
    token: str,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
) -> list[Node]:
    """Start ``count`` nodes at once and wait until every one answers ``/health``.

    Raises:
        RuntimeError: a node exited or did not answer within 40 s (its log is named).
    """
    config_path = workdir / "cluster.toml"
    config_path.write_text(config)
    env = {**os.environ, "API_TOKEN": token, "REDIS_URL": redis_url, "LOG_FORMAT": "json"}
    env.pop("PROFITMAKER_CONFIG", None)
    env.update(extra_env or {})
    nodes: list[Node] = []
    for index in range(count):
        port = free_port()
        log = workdir / f"node{index}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "--config", str(config_path),
                 "--port", str(port), "--socket-port", "0"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        nodes.append(Node(index, process, port, log))
    try:
        for node in nodes:
            eventually_sync(
                lambda n=node: _up(n), timeout=START_TIMEOUT_S, interval=0.1, message="node up"
            )
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def _up(node: Node) -> bool:
    if not node.alive():
        raise RuntimeError(f"node {node.index} exited: {node.log.read_text()[-2000:]}")
    return node.ready()


def stop_nodes(nodes: Iterable[Node]) -> None:
    """Stop every node still running (SIGTERM to all first, then wait for each)."""
    nodes = list(nodes)
    for node in nodes:
        if node.alive():
            node.process.terminate()
    deadline = time.monotonic() + 20
    for node in nodes:
        try:
            node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(timeout=5)
