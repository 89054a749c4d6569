"""Runs scripts of tests/e2e/js with node, installing the pinned socket.io-client if needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

JS_DIR = Path(__file__).parent / "js"


def node_or_none() -> str | None:
    return shutil.which("node")


def ensure_node_modules(timeout: float = 180) -> None:
    """``npm ci`` from the committed lock file, once, when node_modules is missing."""
    if (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install socket.io-client for the JS e2e tests")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        check=True,
        timeout=timeout,
    )
