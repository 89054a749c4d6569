"""Background: fire-and-forget Redis writes of synchronous port methods, kept and drained.

The budget ports' ``stop``, ``observe_used``, ``set_published_limit`` and ``put`` are
synchronous (ccxt's response hook and the read path call them without awaiting); the Redis
adapters apply them to the node's own copy at once and send them to Redis as tasks held here,
so none is garbage-collected half done and ``drain`` can wait for them (``refresh``, tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from inspect import iscoroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class Background:
    """A set of running write tasks; a failed write is logged (without its arguments), never
    raised: the node's own copy already holds the change, and Redis-away is handled by the
    adapter's next awaited call. The first failure after a success is a warning, the rest of
    a run of failures (an outage) debug lines."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failing = False

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the running loop; without one (start-up code), it is dropped."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if iscoroutine(work):
                work.close()
            return
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self._failing = False
            return
        report = log.debug if self._failing else log.warning
        self._failing = True
        report("shared_write_failed", component=self._name, error=type(error).__name__)

    async def drain(self) -> None:
        """Wait for every write started so far (errors already logged, not raised)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def pending(self) -> int:
        """Writes still running."""
        return len(self._tasks)
