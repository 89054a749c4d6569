"""Runs scripts of tests/e2e/js with node, installing the pinned socket.io-client if needed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Self

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


class JsSubscriber:
    """One ``stream_events.mjs`` process: a socket.io-client subscriber whose server events
    arrive here as ``{event, at, payload}`` lines (``at``: ms since the script started).

    ``await expect("status")`` returns the next payload of that event (earlier lines of other
    events stay in ``seen``); ``close()`` ends the script.
    """

    def __init__(self, node: str, url: str, token: str, subscribe: dict[str, Any]) -> None:
        self._argv = (node, str(JS_DIR / "stream_events.mjs"))
        self._env = {
            **os.environ,
            "SOCKET_URL": url,
            "API_TOKEN": token,
            "SUBSCRIBE": json.dumps(subscribe),
        }
        self._process: asyncio.subprocess.Process | None = None
        self.seen: list[dict[str, Any]] = []
        """Every line read so far, in order."""
        self._unread: list[dict[str, Any]] = []

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            *self._argv,
            cwd=JS_DIR,
            env=self._env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _line(self, timeout: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        raw = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        if not raw:
            assert self._process.stderr is not None
            stderr = (await self._process.stderr.read()).decode()[-2000:]
            raise AssertionError(f"stream_events.mjs ended: {stderr}")
        line: dict[str, Any] = json.loads(raw)
        self.seen.append(line)
        return line

    async def expect(self, event: str, timeout: float = 10.0) -> Any:
        """The payload of the next ``event`` line (within ``timeout`` seconds)."""
        for i, line in enumerate(self._unread):
            if line["event"] == event:
                del self._unread[i]
                return line["payload"]
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {event!r} within {timeout} s; seen {self.seen[-5:]}")
            try:
                line = await self._line(left)
            except TimeoutError:
                raise AssertionError(
                    f"no {event!r} within {timeout} s; seen {self.seen[-5:]}"
                ) from None
            if line["event"] == event:
                return line["payload"]
            self._unread.append(line)

    def events(self, event: str) -> list[Any]:
        """Payloads of every ``event`` line read so far (expected or not)."""
        return [line["payload"] for line in self.seen if line["event"] == event]

    async def close(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            assert process.stdin is not None
            process.stdin.write(b"close\n")
            await process.stdin.drain()
            await asyncio.wait_for(process.wait(), 5)
        except (TimeoutError, ConnectionError):
            process.kill()
            await process.wait()
