"""``./scripts/cluster N``: a local redis-server and N nodes, all stopped on Ctrl-C (issue 12
item 6, ADR 0151). Runs the real script on free loopback ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from app.testing import eventually_sync
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster"
START_TIMEOUT_S = 90.0
"""Two Python servers starting on a loaded 2-core machine."""
STOP_TIMEOUT_S = 40.0


def free_port_run(count: int) -> int:
    """A base port such that ``count`` consecutive ports from it are free on 127.0.0.1."""
    for _ in range(50):
        base = free_port()
        if base + count >= 65536:
            continue
        held = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return base
    raise RuntimeError("no run of free ports found")


def processes_matching(pattern: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``pattern``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if pattern in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry.name))
    return out


def start(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = (tmp_path / "cluster.out").open("wb")
    return subprocess.Popen(
        [str(SCRIPT), *args, "--logs", str(tmp_path / "logs")],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"API_TOKEN", "REDIS_URL", "PORT"}}
    env["HOST"] = "127.0.0.1"
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_nodes_answer_with_one_token_and_ctrl_c_stops_every_process(
    tmp_path: Path,
) -> None:
    base = free_port_run(4)
    redis_port = free_port()
    process = start(
        ["2", "--base-port", str(base), "--redis-port", str(redis_port)], tmp_path, base_env()
    )
    try:
        urls = [f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 2}"]

        def all_ready() -> bool:
            if process.poll() is not None:
                raise AssertionError((tmp_path / "cluster.out").read_text())
            try:
                return all(httpx.get(u + "/ready", timeout=2).status_code == 200 for u in urls)
            except httpx.HTTPError:
                return False

        eventually_sync(all_ready, timeout=START_TIMEOUT_S, interval=0.2, message="both ready")

        def printed_token() -> str | None:
            match = re.search(
                r"API token \(generated for this run\): (\S+)",
                (tmp_path / "cluster.out").read_text(),
            )
            return match.group(1) if match else None

        token = eventually_sync(printed_token, timeout=10, message="the token line")
        for url in urls:  # the same generated token on both nodes, both on the same Redis
            status = httpx.get(url + "/api/status", headers={"Authorization": f"Bearer {token}"})
            assert status.status_code == 200
            cluster = status.json()["data"]["cluster"]
            assert (cluster["mode"], cluster["redis"]) == ("cluster", "up")
            ready = httpx.get(url + "/ready").json()
            assert {"name": "redis", "ok": True, "reason": None} in ready["checks"]
        socket_port = httpx.get(f"http://127.0.0.1:{base + 3}/socket.io/?EIO=4&transport=polling")
        assert socket_port.status_code == 200  # the second node's Socket.IO port pair

        started = children_of(process.pid)
        assert len(processes_matching(f"redis-server 127.0.0.1:{redis_port}")) == 1
        assert len(processes_matching(f"--port {base} ")) == 1
        assert len(processes_matching(f"--port {base + 2} ")) == 1
        assert len(started) >= 3  # redis-server and two nodes (and the script's sleep)
    finally:
        stop(process)
    assert process.returncode == 130
    output = (tmp_path / "cluster.out").read_text()
    assert "cluster: stopped 3 processes" in output
    assert processes_matching(f"redis-server 127.0.0.1:{redis_port}") == []
    assert processes_matching(f"--port {base} ") == []
    assert processes_matching(f"--port {base + 2} ") == []
    assert [pid for pid in started if Path(f"/proc/{pid}").exists()] == []
    logs = list((tmp_path / "logs").iterdir())
    assert {p.name for p in logs} >= {"node-1.log", "node-2.log", "redis.log"}
    assert output.count(token) == 1  # printed once, on the terminal
    for log in logs:  # and in no log file
        assert token not in log.read_text(errors="replace")


def test_a_node_failing_at_start_stops_the_others(tmp_path: Path) -> None:
    base = free_port_run(4)
    redis_port = free_port()
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", base + 2))  # node-2's HTTP port is taken
    blocker.listen()
    env = {**base_env(), "API_TOKEN": "cluster-test-token-not-a-secret"}
    try:
        process = start(
            ["2", "--base-port", str(base), "--redis-port", str(redis_port)], tmp_path, env
        )
        try:
            process.wait(timeout=START_TIMEOUT_S)
        finally:
            stop(process)
    finally:
        blocker.close()
    output = (tmp_path / "cluster.out").read_text()
    assert process.returncode == 1, output
    assert "node-2 exited at start" in output
    assert "cluster: stopped 3 processes" in output
    assert processes_matching(f"redis-server 127.0.0.1:{redis_port}") == []
    assert processes_matching(f"--port {base} ") == []
    assert "cluster-test-token-not-a-secret" not in output


def test_bad_arguments_are_refused_before_anything_starts(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), "0"], cwd=ROOT, env=base_env(), capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert b"N must be a number from 1 to 16" in result.stderr
    result = subprocess.run(
        [str(SCRIPT), "2", "--nope"],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"unknown argument: --nope" in result.stderr


@pytest.fixture(autouse=True)
def _needs_redis_server() -> None:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server missing: run ./scripts/bootstrap --test")
