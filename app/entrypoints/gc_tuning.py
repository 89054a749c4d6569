"""Garbage-collector settings for a long-running server, applied for the app's lifetime.

Measured with bench/fanout.py (1,000 Socket.IO clients, 10 updates/s): with CPython's default
thresholds a full (generation 2) collection ran every ~1.6 s and stalled the event loop for
~100 ms, which alone made the p99 delivery lag ~150 ms. Freezing what exists at startup
(imported modules, ccxt's classes: never garbage) keeps it out of every later collection, and
a larger first threshold makes full collections rare. Restored at shutdown, so tests that
start many apps in one process leave the collector as they found it.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

SERVING_THRESHOLDS = (50_000, 20, 100)


@asynccontextmanager
async def serving_gc(_app: Any = None) -> AsyncIterator[None]:
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
