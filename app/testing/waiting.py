"""`eventually`: the one bounded poll helper for tests that wait for a condition.

Tests must not synchronise by sleeping a fixed time (too short on a loaded CI machine, too long
everywhere else). Wait for an event where the code offers one; where it does not, poll the
observable condition with `eventually`, which fails loudly with a message at a bound instead of
hanging or passing by accident.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

# A bound far above any healthy wait and far below pytest-timeout's 120 s, so a failure names
# the condition instead of dumping a hung-test traceback.
DEFAULT_TIMEOUT_S = 5.0
# Short enough that a test waits at most ~10 ms past the moment the condition became true.
DEFAULT_INTERVAL_S = 0.01


@overload
async def eventually(
    predicate: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str | None = ...,
) -> T: ...
@overload
async def eventually(
    predicate: Callable[[], T | None],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str | None = ...,
) -> T: ...
async def eventually(
    predicate: Callable[[], Any],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
    message: str | None = None,
) -> Any:
    """Poll ``predicate`` until it returns a truthy value, and return that value.

    A predicate typed ``X | None`` gives an ``X``: ``await eventually(find_gateway)``.

    Args:
        predicate: a sync or async callable without arguments; it is called at least once, and
            then every ``interval`` seconds. An exception it raises propagates at once.
        timeout: the bound in seconds (default 5 s).
        interval: the pause between calls in seconds (default 10 ms).
        message: what was awaited, for the failure text (default: the predicate's repr).

    Raises:
        AssertionError: the predicate was still falsy after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        value = await result if inspect.isawaitable(result) else result
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"not true within {timeout} s: {message or predicate!r}")
        await asyncio.sleep(interval)


def eventually_sync(
    predicate: Callable[[], T | None],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = DEFAULT_INTERVAL_S,
    message: str | None = None,
) -> T:
    """`eventually` for code outside an event loop (a server in a thread or subprocess).

    Same arguments and errors as `eventually`; the predicate must be synchronous.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout} s: {message or predicate!r}")
        time.sleep(interval)
