"""The simulated book moves like a real one: between updates most levels keep their size.

Sizes used to depend on a level's distance from the best price, so every shift of the best
price changed every level: at the default 2 Hz nearly every update of a 50-level book needed
more than 50 level changes, and `format: "delta"` subscribers got snapshots only.
"""

from __future__ import annotations

from app.adapters.sim import SimBackend
from app.adapters.sim.clock import ManualClock
from app.plugin import BackendContext, ExchangeConfig

UPDATES = 100
STEP_S = 0.5  # the default tick_hz = 2


async def test_levels_that_stay_keep_their_size_most_of_the_time() -> None:
    clock = ManualClock(1_796_094_000_000)
    gateway = SimBackend(BackendContext(), clock=clock).create(ExchangeConfig("sim"))
    await gateway.load_markets()
    kept = resized = too_big_for_a_delta = 0
    previous = await gateway.fetch_order_book("BTC/USDT")
    for _ in range(UPDATES):
        clock.advance(STEP_S)
        book = await gateway.fetch_order_book("BTC/USDT")
        for side in ("bids", "asks"):
            before = dict(previous[side])
            after = dict(book[side])
            stayed = before.keys() & after.keys()
            kept += len(stayed)
            resized += sum(1 for price in stayed if before[price] != after[price])
            changes = sum(1 for p, s in after.items() if before.get(p) != s)
            changes += sum(1 for p in before if p not in after)
            too_big_for_a_delta += changes > len(book[side])
        previous = book
    assert kept > 0 and resized > 0  # the book shifts and sizes do evolve
    assert resized / kept < 0.5, (resized, kept)  # was 1.0: every level, every update
    assert too_big_for_a_delta < UPDATES  # of 2 x 100 sides; was ~190
