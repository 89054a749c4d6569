"""The real server process: SIGHUP revokes a named token without a restart; the status page
renders live data in a real headless browser."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.testing import eventually_sync

API_TOKEN = "e2e-api-token-not-a-secret"
ALPHA, BETA = "alpha-e2e-token-0001", "beta-e2e-token-0002"
ROOT = Path(__file__).resolve().parents[2]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_text(*tokens: tuple[str, str]) -> str:
    lines = ["socket_port = 0", 'allowed_exchanges = ["sim"]', ""]
    for name, value in tokens:
        lines += ["[[tokens]]", f'name = "{name}"', f'sha256 = "{sha(value)}"', ""]
    return "\n".join(lines)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """``profitmaker-server`` in its own process on a free loopback port."""
    config = tmp_path / "profitmaker.toml"
    config.write_text(config_text(("desk-a", ALPHA), ("desk-b", BETA)))
    port = free_port()
    env = {**os.environ, "API_TOKEN": API_TOKEN, "LOG_FORMAT": "json"}
    env.pop("PROFITMAKER_CONFIG", None)
    log_file = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", str(config), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        eventually_sync(lambda: _answers(base), timeout=30, interval=0.1, message="server up")
        yield base, config, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log_file.close()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def status_of(base: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{base}/api/backends", headers=headers, timeout=5).status_code


def test_sighup_revokes_a_token_for_new_requests(
    server: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, config, process = server
    assert [status_of(base, t) for t in (ALPHA, BETA, API_TOKEN)] == [200, 200, 200]
    config.write_text(config_text(("desk-b", BETA)))  # desk-a removed from the file
    process.send_signal(signal.SIGHUP)
    eventually_sync(lambda: status_of(base, ALPHA) == 403, timeout=10, message="desk-a revoked")
    assert status_of(base, BETA) == 200 and status_of(base, API_TOKEN) == 200
    assert process.poll() is None  # same process: no restart
    # A token added to the file works after the next SIGHUP.
    config.write_text(config_text(("desk-b", BETA), ("desk-c", "gamma-e2e-token-3")))
    process.send_signal(signal.SIGHUP)
    eventually_sync(lambda: status_of(base, "gamma-e2e-token-3") == 200, timeout=10)


def test_sighup_without_a_config_file_is_logged_and_the_server_keeps_serving(
    tmp_path: Path,
) -> None:
    """SIGHUP's default action terminates a process; with no config file to reload the server
    logs the signal and keeps answering (positive control: the log line proves it arrived)."""
    port = free_port()
    env = {**os.environ, "API_TOKEN": API_TOKEN, "LOG_FORMAT": "json"}
    env.pop("PROFITMAKER_CONFIG", None)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "--port", str(port), "--socket-port", "0"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            eventually_sync(lambda: _answers(base), timeout=30, interval=0.1, message="up")
            process.send_signal(signal.SIGHUP)
            eventually_sync(
                lambda: "config_reload_skipped" in log_path.read_text(errors="replace"),
                timeout=10,
                interval=0.05,
                message="the SIGHUP was handled",
            )
            assert process.poll() is None
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
