"""Readiness: named checks that must all pass before the server takes traffic (GET /ready).

Checks are registered by the composition root: ``started`` (the lifespan finished starting
and has not begun stopping), ``backends`` (at least one exchange backend loaded),
``streams`` (the stream hub is running); a Redis adapter adds ``redis`` (a PING) when Redis
is configured. A check returns None when it passes, else the reason in a few words.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Check = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_SECONDS = 2.0
"""A check slower than this fails: a readiness probe must answer quickly."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    reason: str | None
    """None: passed."""

    @property
    def ok(self) -> bool:
        return self.reason is None


class Readiness:
    """The list of readiness checks of one application."""

    def __init__(self, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
        self._checks: dict[str, Check] = {}
        self._timeout = timeout

    def add(self, name: str, check: Check) -> None:
        """Register (or replace) a named check."""
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def evaluate(self) -> list[CheckResult]:
        """Run every check concurrently; a raising or slow check fails with its reason."""
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
        return [CheckResult(name, reason) for name, reason in zip(names, outcomes, strict=True)]

    async def _run(self, check: Check) -> str | None:
        try:
            async with asyncio.timeout(self._timeout):
                return await check()
        except TimeoutError:
            return f"no answer within {self._timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - a broken check means "not ready", not a 500
            return f"check failed: {type(exc).__name__}"


class Lifecycle:
    """Whether the application has finished starting and not begun stopping."""

    def __init__(self) -> None:
        self.state = "starting"

    async def check(self) -> str | None:
        return None if self.state == "running" else f"server is {self.state}"
