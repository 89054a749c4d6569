"""/health's timestamp is the text datetime (and JavaScript's toISOString) would write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.utc_text import IsoStamp

NS = [
    1_796_083_810_123_456_789,
    1_796_083_810_999_999_999,  # truncated, never rounded up into the next second
    1_796_083_811_000_000_000,  # the next second: the date part is made again
    1_796_083_811_000_999_999,
    1_796_083_810_500_000_000,  # back in time (a clock step): still right
    0,
    1_709_164_799_999_000_000,  # 2024-02-28T23:59:59.999Z, then a leap day
    1_709_164_800_001_000_000,
]


def _datetime_text(stamp_ns: int) -> str:
    moment = datetime.fromtimestamp(stamp_ns // 1_000 / 1_000_000, UTC)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


@pytest.mark.parametrize("stamp_ns", NS)
def test_the_stamp_is_the_datetime_text(stamp_ns: int) -> None:
    stamp = IsoStamp(3)
    stamp.at(NS[0])  # a cached second from before, as in a running server
    assert stamp.at(stamp_ns) == _datetime_text(stamp_ns)


def test_the_stamp_follows_the_clock() -> None:
    stamp = IsoStamp(3)
    before = datetime.now(UTC)
    text = stamp()
    after = datetime.now(UTC)
    assert text.endswith("Z") and len(text) == len("2026-12-01T00:22:21.818Z")
    parsed = datetime.fromisoformat(text)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= parsed <= after
