"""The Dockerfile: slim, non-root, healthcheck on /health, the sim config by default; built
and run when a docker daemon and the base image are available here (no registry pull)."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from app.settings import load_settings
from app.testing import eventually_sync

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def base_image() -> str:
    match = re.search(r"^FROM\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert match
    return match.group(1)


def test_dockerfile_is_slim_non_root_with_a_healthcheck_and_the_sim_config() -> None:
    assert base_image().startswith("python:") and base_image().endswith("-slim")
    user = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", DOCKERFILE, re.MULTILINE) and "/health" in DOCKERFILE
    assert "pip install ." in DOCKERFILE  # installs through pyproject.toml's pinned deps
    config = re.search(r"PROFITMAKER_CONFIG=(\S+)", DOCKERFILE)
    assert config and config.group(1).endswith("config/sim.toml")
    settings = load_settings(ROOT / "config" / "sim.toml", env={})
    assert settings.allowed_exchanges == ["sim"]


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_image_builds_and_becomes_healthy() -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    if _docker("info", timeout=20).returncode != 0:
        pytest.skip("no docker daemon is running (docker info failed)")
    if _docker("image", "inspect", base_image()).returncode != 0:
        pytest.skip(f"base image {base_image()} is not available locally; not pulling it")
    tag = f"profitmaker-server-test:{uuid.uuid4().hex[:8]}"
    name = f"pm-test-{uuid.uuid4().hex[:8]}"
    built = _docker("build", "--pull=false", "-t", tag, str(ROOT), timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        started = _docker(
            "run",
            "-d",
            "--name",
            name,
            "-e",
            "API_TOKEN=container-test-token",
            "-p",
            "127.0.0.1::3001",
            tag,
        )
        assert started.returncode == 0, started.stderr
        port = _docker("port", name, "3001/tcp").stdout.strip().rsplit(":", 1)[-1]

        def healthy() -> bool:
            state = _docker("inspect", "--format", "{{.State.Health.Status}}", name).stdout
            return state.strip() == "healthy"

        eventually_sync(healthy, timeout=90, interval=1, message="container healthy")
        user = _docker("exec", name, "id", "-u").stdout.strip()
        assert user != "0"
        backends = httpx.get(
            f"http://127.0.0.1:{port}/api/backends",
            headers={"Authorization": "Bearer container-test-token"},
            timeout=5,
        )
        assert backends.status_code == 200
    finally:
        _docker("rm", "-f", name)
        _docker("rmi", "-f", tag)
