"""Readiness: a list of named checks; any failing, raising or slow check makes it not ready."""

from __future__ import annotations

import asyncio

from app.domain.readiness import Lifecycle, Readiness


async def test_all_checks_pass_then_one_fails_with_its_reason() -> None:
    readiness = Readiness(timeout=0.2)
    lifecycle = Lifecycle()
    readiness.add("started", lifecycle.check)
    results = await readiness.evaluate()
    assert [(r.name, r.ok, r.reason) for r in results] == [("started", False, "server is starting")]
    lifecycle.state = "running"
    assert all(r.ok for r in await readiness.evaluate())

    async def redis_down() -> str | None:
        raise ConnectionRefusedError("127.0.0.1:6379")

    async def hangs() -> str | None:
        await asyncio.Event().wait()
        return None

    readiness.add("redis", redis_down)
    readiness.add("slow", hangs)
    by_name = {r.name: r for r in await readiness.evaluate()}
    assert by_name["started"].ok
    assert by_name["redis"].reason == "check failed: ConnectionRefusedError"
    assert by_name["slow"].reason == "no answer within 0.2s"
