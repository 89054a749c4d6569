"""``./scripts/cluster`` refuses a port pair where another server already answers (say a
``./scripts/serve`` left on 3001): that server would pass the readiness check in the node's
place. Runs the real script on free loopback ports."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster"


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"status":"ready"}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def other_server(port: int) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def run_cluster(base: int, redis_port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"API_TOKEN", "REDIS_URL", "PORT"}}
    env["HOST"] = "127.0.0.1"
    args = [str(SCRIPT), "2", "--base-port", str(base), "--redis-port", str(redis_port)]
    args += ["--logs", str(tmp_path / "logs")]
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # Without the check the script runs on: SIGTERM makes it stop everything it started.
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=40)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("offset", [0, 3], ids=["node-1 HTTP port", "node-2 Socket.IO port"])
def test_a_port_answered_by_another_server_is_refused_before_anything_starts(
    offset: int, tmp_path: Path
) -> None:
    base, redis_port = free_port(), free_port()
    with other_server(base + offset):
        result = run_cluster(base, redis_port, tmp_path)
    node = "node-1" if offset < 2 else "node-2"
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"a server already answers on 127.0.0.1:{base + offset} ({node}'s port pair)" in (
        result.stderr
    )
    assert "redis-server on" not in result.stdout  # nothing was started
    assert not (tmp_path / "logs" / "node-1.log").exists()
