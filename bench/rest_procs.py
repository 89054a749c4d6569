"""Subprocesses of the benchmark (emulator, server), a TOML writer and /proc readings.

Every child is started in its own session, asked to die with its parent (PR_SET_PDEATHSIG)
and stopped by pid in ``stop()``; callers stop them in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# -- TOML ---------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_document(tables: dict[str, dict[str, Any]]) -> str:
    """``{"ccxt": {...}, "exchanges.binance": {"ccxt": {...}}}`` -> TOML; nested values inline."""
    out = []
    for name, body in tables.items():
        out.append(f"[{name}]" if name else "")
        out += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in body.items()]
    return "\n".join(out) + "\n"


def _strip_none(node: Any) -> Any:
    """TOML has no null: drop None values (ccxt keeps the describe() default for them)."""
    if isinstance(node, dict):
        return {k: _strip_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_strip_none(v) for v in node if v is not None]
    return node


def server_config(overrides: dict[str, Any], *, log_level: str = "info") -> str:
    ccxt_override = _strip_none(overrides)
    text = toml_document(
        {
            "": {"log_level": log_level},
            "ccxt": {"enable_rate_limit": False},
            "exchanges.binance": {"ccxt": ccxt_override},
        }
    )
    parsed = tomllib.loads(text)  # round-trip check: what the server will read
    if parsed["exchanges"]["binance"]["ccxt"] != ccxt_override:
        raise AssertionError("TOML writer lost part of the ccxt overrides")
    return text


# -- /proc --------------------------------------------------------------------------------


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(rest.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


# -- children -----------------------------------------------------------------------------


class _Child:
    proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except (TimeoutError, asyncio.CancelledError):
            proc.kill()
            await asyncio.wait_for(proc.wait(), 5)


class EmulatorProcess(_Child):
    """``bench.rest_emulator`` in a child: base_url, request counts, reset."""

    def __init__(self, symbols: int) -> None:
        self.symbols = symbols
        self.base_url = ""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.rest_emulator",
            "--symbols",
            str(self.symbols),
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        hello = await self._line(timeout=60)
        self.base_url = hello["base_url"]

    async def _line(self, timeout: float = 10) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise RuntimeError("emulator process exited")
        return json.loads(raw)  # type: ignore[no-any-return]

    async def command(self, name: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(name.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._line()

    async def counts(self) -> dict[str, int]:
        return (await self.command("stats"))["counts"]  # type: ignore[no-any-return]

    async def reset(self) -> None:
        await self.command("reset")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None and self.proc.stdin:
            self.proc.stdin.close()  # end of stdin: the emulator stops by itself
        await super().stop()


class ServerProcess(_Child):
    """``profitmaker-server`` via its CLI, a temp TOML config, ``API_TOKEN`` in the env."""

    def __init__(self, config_text: str, token: str, tree: Path | None = None) -> None:
        self.config_text = config_text
        self.token = token
        self.tree = tree
        """Another checkout to run (its own ``.venv``), e.g. main before a change; None: this."""
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="pm-bench-")
        self.log_path = Path(self._dir.name) / "server.log"

    async def start(self, *, ready_timeout: float = 30) -> float:
        """Start and wait for GET /health; returns the seconds it took."""
        config = Path(self._dir.name) / "server.toml"
        config.write_text(self.config_text)
        self.port = free_port()
        env = {**os.environ, "API_TOKEN": self.token}
        env.pop("PROFITMAKER_CONFIG", None)
        began = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command(config),
                cwd=self.tree or REPO,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        while True:
            if self.proc.returncode is not None:
                raise RuntimeError(f"server exited early; log: {self.log_tail()}")
            try:
                reader, writer = await asyncio.open_connection(HOST, self.port)
                writer.write(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                writer.close()
                if head.startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - began
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                pass
            if time.perf_counter() - began > ready_timeout:
                raise RuntimeError(f"server not ready in {ready_timeout} s; log: {self.log_tail()}")
            await asyncio.sleep(0.05)

    def command(self, config: Path) -> list[str]:
        """The child's argv (the CLI with the config file)."""
        return [
            str(
                self.tree / ".venv/bin/profitmaker-server"
                if self.tree
                else Path(sys.executable).parent / "profitmaker-server"
            ),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--config",
            str(config),
        ]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            self._dir.cleanup()


class BareProcess(ServerProcess):
    """``bench.rest_bare``: a bare Litestar app on the same server stack; answers ``ticker``."""

    def __init__(self, ticker: Any) -> None:
        super().__init__("", "unused")
        self.ticker = ticker

    def command(self, config: Path) -> list[str]:
        ticker = Path(self._dir.name) / "ticker.json"
        ticker.write_text(json.dumps(self.ticker))
        return [
            sys.executable,
            "-m",
            "bench.rest_bare",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--ticker",
            str(ticker),
        ]
