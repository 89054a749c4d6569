"""Bench-only timestamps along the fan-out path (``bench/fanout.py --trace``).

Installed in the benchmark's server subprocess only, by wrapping library and app functions
there: production code carries no probe. For each ticker update (by its ``sequence``) it
records, in wall-clock ms (the clock the node clients stamp receipt with):

- ``loop``: the upstream loop hands the update to ``StreamEvents.on_data``;
- ``published``: ``on_data`` returned (encoded once, put in every client's engine.io queue);
- ``woke``: per client, the socket's writer task got the packet out of its queue;
- ``written``: per client, the websocket send returned (frame built, ``transport.write``
  done: the bytes are in the kernel).

The exchange's stamp (``sentAt``) and the client's receipt bracket these. ``summary`` turns
the raw stamps into per-stage percentiles (ms after ``sentAt``).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

_SEQUENCE = re.compile(r'"sequence":(\d+)')


def _now_ms() -> float:
    return time.time_ns() / 1e6


class FanoutTrace:
    """Raw stamps per sequence number; ``install`` wraps the functions that record them."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.loop: dict[int, float] = {}
        self.published: dict[int, float] = {}
        self.woke: dict[int, list[float]] = {}
        self.written: dict[int, list[float]] = {}
        self.batch_sizes: list[int] = []
        """Packets per writer wake-up (engine.io sends what it finds queued in one go)."""
        self.direct = 0
        """Packets written at once by the publisher (``BoundedSocket.write_now``)."""

    def install(self) -> None:
        from engineio.async_drivers import asgi

        from app.adapters.socketio import engine
        from app.domain.streams.events import StreamEvents

        trace = self
        on_data = StreamEvents.on_data

        def traced_on_data(self: StreamEvents, data: Any, restarted: bool) -> None:
            sequence = data.get("sequence") if isinstance(data, dict) else None
            if sequence is None:
                on_data(self, data, restarted)
                return
            trace.loop[sequence] = _now_ms()
            trace.sent[sequence] = data.get("sentAt", math.nan)
            on_data(self, data, restarted)
            trace.published[sequence] = _now_ms()

        StreamEvents.on_data = traced_on_data  # type: ignore[method-assign]

        # The writer task (or a long-polling GET) calls BoundedSocket.poll.
        poll = engine.BoundedSocket.poll

        async def traced_poll(self: Any) -> Any:
            packets = await poll(self)
            now = _now_ms()
            if packets:
                trace.batch_sizes.append(len(packets))
            for pkt in packets or ():
                data = getattr(pkt, "data", None)
                if isinstance(data, str):
                    match = _SEQUENCE.search(data)
                    if match:
                        trace.woke.setdefault(int(match.group(1)), []).append(now)
            return packets

        engine.BoundedSocket.poll = traced_poll  # type: ignore[method-assign]

        # Packets written in the publisher's step (ADR 0130) skip both of the above.
        write_now = engine.BoundedSocket.write_now

        def traced_write_now(self: Any, text: str) -> bool:
            done = bool(write_now(self, text))
            if done:
                trace.direct += 1
                match = _SEQUENCE.search(text)
                if match:
                    now = _now_ms()
                    trace.woke.setdefault(int(match.group(1)), []).append(now)
                    trace.written.setdefault(int(match.group(1)), []).append(now)
            return done

        engine.BoundedSocket.write_now = traced_write_now  # type: ignore[method-assign]

        send = asgi.WebSocket.send

        async def traced_send(self: Any, message: Any) -> None:
            await send(self, message)
            if isinstance(message, str):
                match = _SEQUENCE.search(message)
                if match:
                    trace.written.setdefault(int(match.group(1)), []).append(_now_ms())

        asgi.WebSocket.send = traced_send  # type: ignore[method-assign]

    def dump(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "loop": self.loop,
            "published": self.published,
            "woke": self.woke,
            "written": self.written,
            "batch_sizes": self.batch_sizes[-20000:],
            "direct": self.direct,
        }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(raw: dict[str, Any], sequences: set[int], lags: list[float]) -> dict[str, Any]:
    """Per stage, p50/p99 of (stage time - exchange stamp) in ms over the given sequences;
    ``received`` is the clients' own lag (receipt - stamp)."""
    stages: dict[str, list[float]] = {"loop": [], "published": [], "woke": [], "written": []}
    spans: list[float] = []
    """Per update: first to last client write (how long one fan-out takes to reach all)."""
    for key, value in raw["sent"].items():
        sequence = int(key)
        if sequence not in sequences or not isinstance(value, int | float):
            continue
        for stage in ("loop", "published"):
            at = raw[stage].get(key)
            if at is not None:
                stages[stage].append(at - value)
        for stage in ("woke", "written"):
            times = raw[stage].get(key, [])
            stages[stage].extend(t - value for t in times)
        written = raw["written"].get(key, [])
        if written:
            spans.append(max(written) - min(written))
    out: dict[str, Any] = {
        stage: (_pct(values, 0.5), _pct(values, 0.99)) for stage, values in stages.items()
    }
    out["received"] = (_pct(lags, 0.5), _pct(lags, 0.99))
    out["write_span"] = (_pct(spans, 0.5), _pct(spans, 0.99))
    batches = raw.get("batch_sizes", [])
    out["batch_mean"] = sum(batches) / len(batches) if batches else math.nan
    out["direct"] = raw.get("direct", 0)
    return out
