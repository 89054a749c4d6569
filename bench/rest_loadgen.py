"""A load client that is not the bottleneck: raw asyncio streams, keep-alive, pre-built bytes.

``run_load`` drives any async "one request" callables (HTTP connections or in-process ccxt
calls) with the same loop, bounded by a request count and a wall-clock budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Call = Callable[[], Awaitable[bool]]


def build_request(
    method: str,
    host: str,
    port: int,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request, built once and re-sent as is."""
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class Connection:
    """One keep-alive HTTP/1.1 connection; reads Content-Length and chunked bodies."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.last_head = b""  # status line and headers of the latest response

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self._writer.write(data)
        head = self.last_head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lowered.index(b"\r\n", at + 2)
            return status, await self._reader.readexactly(int(head[at + 17 : end]))
        if b"\r\ntransfer-encoding: chunked" in lowered:
            return status, await self._read_chunked()
        raise RuntimeError("response without Content-Length or chunked body")

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def caller(self, data: bytes, expect: int = 200) -> Call:
        async def call() -> bool:
            status, _ = await self.request(data)
            return status == expect

        return call

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


async def open_connections(host: str, port: int, count: int) -> list[Connection]:
    return list(await asyncio.gather(*(Connection.open(host, port) for _ in range(count))))


@dataclass
class LoadResult:
    concurrency: int
    completed: int
    errors: int
    seconds: float
    latencies_ns: list[int] = field(repr=False)
    cpu: dict[str, float] = field(default_factory=dict)  # process name -> CPU seconds used

    @property
    def rps(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def pct_ms(self, q: float) -> float:
        return percentile(self.latencies_ns, q) / 1e6

    @property
    def mean_ms(self) -> float:
        lat = self.latencies_ns
        return sum(lat) / len(lat) / 1e6 if lat else float("nan")


def percentile(values: Sequence[int], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


async def run_load(
    calls: Sequence[Call],
    *,
    max_requests: int,
    max_seconds: float,
    hard_timeout: float | None = None,
) -> LoadResult:
    """Run ``len(calls)`` workers until ``max_requests`` are issued or ``max_seconds`` pass.

    Each worker awaits its call in a loop (one request in flight per worker). A call that
    raises counts as an error. ``hard_timeout`` (default: budget + 30 s) cancels a stuck run.
    """
    latencies: list[int] = []
    issued = 0
    errors = 0
    clock = time.perf_counter_ns
    deadline = clock() + int(max_seconds * 1e9)

    async def worker(call: Call) -> None:
        nonlocal issued, errors
        while issued < max_requests and clock() < deadline:
            issued += 1
            started = clock()
            try:
                ok = await call()
            except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
                errors += 1
                raise RuntimeError(f"load call failed: {exc!r}") from exc
            except Exception:  # noqa: BLE001 - e.g. a ccxt error in a direct run: count it, keep going
                ok = False
            latencies.append(clock() - started)
            if not ok:
                errors += 1

    began = clock()
    await asyncio.wait_for(
        asyncio.gather(*(worker(call) for call in calls)),
        hard_timeout if hard_timeout is not None else max_seconds + 30,
    )
    seconds = (clock() - began) / 1e9
    return LoadResult(len(calls), len(latencies), errors, seconds, latencies)
