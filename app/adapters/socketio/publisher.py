"""SocketIOPublisher: encode an update once, hand it to each client's engine.io queue.

python-socketio's own room emit creates one asyncio task per recipient per emit. Here the
socket.io packet is built once per update (only the subscriptionId differs per recipient and
is spliced in) and put straight into each engine.io socket's outgoing queue, which that
socket's writer task already drains: no task per recipient.

Slow consumers: a socket whose queue already holds ``max_queued`` packets gets nothing more
queued; its updates wait in a per-subscription slot instead, combined by
``app.domain.streams.coalesce`` (latest wins, or merged for trades and candles), and one
flusher task moves them on when the queue has drained. Memory per socket is thus bounded by
the queue cap plus one combined update per subscription.

Long-polling readers: a packet queued between two GETs is stale by the next one, so for a
socket still on long-polling an update goes to the queue only while a GET waits for it;
otherwise it waits in its slot (latest wins, or merged), and the slots are emptied into the
queue the moment the next GET starts collecting (``BoundedSocket.poll`` calls
``before_poll``). A polling reader thus gets one, current, version per stream and poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import structlog
from engineio import packet as eio_packet

from app.domain.streams.book import BookFrame, merge_frames
from app.domain.streams.coalesce import LATEST_WINS, merge, snapshot
from app.domain.streams.model import StreamState, StreamUpdate, Subscriber
from app.observability import scrub_text

log = structlog.get_logger(__name__)

_encoder = msgspec.json.Encoder(enc_hook=str)
_DATA_HEAD = '2["data",{"subscriptionId":'
_ERROR_HEAD = '2["error",{"subscriptionId":'
_STATUS_HEAD = '2["status",{"subscriptionId":'


@dataclass(slots=True)
class _Parked:
    update: StreamUpdate | None = None
    text: str | None = None
    """Already encoded packet (latest-wins kinds and errors): a snapshot, immune to mutation."""


@dataclass(slots=True)
class _Cursor:
    """A delta subscription's sequence: the last ``seq`` sent, and whether a snapshot is due."""

    seq: int = 0
    snapshot_due: bool = True


@dataclass(slots=True)
class _Connection:
    eio_sid: str | None = None
    parked: dict[tuple[str, str], _Parked] = field(default_factory=dict)
    cursors: dict[str, _Cursor] = field(default_factory=dict)


class _FrameText:
    """A ``BookFrame`` update encoded once per publish: only the subscriptionId, ``type``,
    ``seq`` and ``prevSeq`` differ per recipient and are spliced in."""

    __slots__ = ("_delta", "_frame", "_head", "_snapshot", "_tail")

    def __init__(self, update: StreamUpdate, frame: BookFrame) -> None:
        self._frame = frame
        outer: dict[str, Any] = {
            "dataType": update.data_type,
            "exchange": update.exchange_id,
            "symbol": update.symbol,
        }
        if update.timeframe is not None:
            outer["timeframe"] = update.timeframe
        self._head = "," + _encoder.encode(outer).decode()[1:-1] + ',"data":'
        tail: dict[str, Any] = {"timestamp": update.timestamp}
        if update.cached:
            tail["cached"] = True
        self._tail = "," + _encoder.encode(tail).decode()[1:] + "]"
        self._snapshot: str | None = None
        self._delta: str | None = None

    def _body(self, bids: Any, asks: Any) -> str:
        frame = self._frame
        body = {"symbol": frame.symbol, "timestamp": frame.timestamp, "bids": bids, "asks": asks}
        return "," + _encoder.encode(body).decode()[1:]

    def packet(self, subscription_id: str, cursor: _Cursor) -> str:
        """The packet for one recipient; advances its cursor."""
        frame = self._frame
        if cursor.snapshot_due or cursor.seq == 0 or not frame.has_delta:
            if self._snapshot is None:
                self._snapshot = self._body(frame.bids, frame.asks)
            data = f'{{"type":"snapshot","seq":{cursor.seq + 1},"prevSeq":null{self._snapshot}'
            cursor.snapshot_due = False
        else:
            if self._delta is None:
                self._delta = self._body(frame.delta_bids, frame.delta_asks)
            data = f'{{"type":"delta","seq":{cursor.seq + 1},"prevSeq":{cursor.seq}{self._delta}'
        cursor.seq += 1
        return (
            _DATA_HEAD + _encoder.encode(subscription_id).decode() + self._head + data + self._tail
        )


def encode_data_tail(update: StreamUpdate) -> str:
    """Everything of a ``data`` event after its subscriptionId, encoded once per update."""
    body: dict[str, Any] = {
        "dataType": update.data_type,
        "exchange": update.exchange_id,
        "symbol": update.symbol,
    }
    if update.timeframe is not None:
        body["timeframe"] = update.timeframe
    body["data"] = update.data
    body["timestamp"] = update.timestamp
    if update.cached:
        body["cached"] = True
    return "," + _encoder.encode(body).decode()[1:] + "]"


def data_packet(subscription_id: str, tail: str) -> str:
    return _DATA_HEAD + _encoder.encode(subscription_id).decode() + tail


def error_packet(subscription_id: str, message: str) -> str:
    body = _encoder.encode({"error": message}).decode()[1:]
    return _ERROR_HEAD + _encoder.encode(subscription_id).decode() + "," + body + "]"


def status_packet(subscription_id: str, state: str, reason: str) -> str:
    body = _encoder.encode({"state": state, "reason": reason}).decode()[1:]
    return _STATUS_HEAD + _encoder.encode(subscription_id).decode() + "," + body + "]"


class SocketIOPublisher:
    """StreamPublisher over a python-socketio AsyncServer (bound after construction)."""

    def __init__(
        self, *, max_queued: int = 64, flush_interval: float = 0.01, namespace: str = "/"
    ) -> None:
        self._max_queued = max(1, max_queued)
        self._flush_interval = flush_interval
        self._namespace = namespace
        self._sio: Any = None
        self._connections: dict[str, _Connection] = {}
        self._by_eio: dict[str, str] = {}
        """engine.io sid -> Socket.IO sid, for the poll hook."""
        self._behind: set[str] = set()
        """Connections with parked updates: the only ones the flusher looks at."""
        self._flusher: asyncio.Task[None] | None = None
        self.parked_updates = 0
        """How many updates went to a slow consumer's slot instead of its queue (a metric)."""

    def bind(self, sio: Any) -> None:
        self._sio = sio
        listeners = getattr(sio.eio, "poll_listeners", None)
        if listeners is not None:  # a BoundedEngineServer (app.adapters.socketio.engine)
            listeners.append(self.before_poll)

    def forget_connection(self, sid: str) -> None:
        connection = self._connections.pop(sid, None)
        if connection is not None and connection.eio_sid is not None:
            self._by_eio.pop(connection.eio_sid, None)
        self._behind.discard(sid)

    def before_poll(self, eio_sid: str) -> None:
        """A socket is about to collect its packets: hand over what waits in its slots."""
        sid = self._by_eio.get(eio_sid)
        connection = self._connections.get(sid) if sid is not None else None
        if connection is None or not connection.parked:
            return
        _, socket = self._socket(sid)  # type: ignore[arg-type]
        if socket is not None:
            self._drain(connection, socket)

    # -- StreamPublisher ------------------------------------------------------------------

    def publish(self, update: StreamUpdate, subscribers: Sequence[Subscriber]) -> None:
        if isinstance(update.data, BookFrame):
            self._publish_frame(update, update.data, subscribers)
            return
        tail = encode_data_tail(update)
        for subscriber in subscribers:
            text = data_packet(subscriber.subscription_id, tail)
            connection, socket = self._socket(subscriber.connection_id)
            if connection is None:
                continue
            # Queue it now only if the socket has room and will send it at once: a websocket,
            # or a long-polling socket whose GET waits (else it would go stale in the queue).
            # Inlined: this runs once per recipient per update.
            if (
                socket is not None
                and not connection.parked
                and socket.queue.qsize() < self._max_queued
                and (socket.upgraded or getattr(socket, "poll_waiting", True))
            ):
                write_now = getattr(socket, "write_now", None)  # a BoundedSocket's (ADR 0130)
                if write_now is not None and write_now(text):
                    continue
                socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, data=text))
                if not socket.upgraded:
                    # This GET now answers; later updates wait in the slots for the next.
                    socket.poll_waiting = False
            else:
                self._park_data(connection, subscriber, update, text, socket)

    def _publish_frame(
        self, update: StreamUpdate, frame: BookFrame, subscribers: Sequence[Subscriber]
    ) -> None:
        """Delta subscribers: seq per subscription at the moment a packet is queued; a
        subscriber that fell behind has its frames combined (``merge_frames``)."""
        encoded = _FrameText(update, frame)
        for subscriber in subscribers:
            connection, socket = self._socket(subscriber.connection_id)
            if connection is None:
                continue
            cursor = connection.cursors.get(subscriber.subscription_id)
            if cursor is None:
                cursor = connection.cursors[subscriber.subscription_id] = _Cursor()
            if socket is not None and not connection.parked and self._ready(socket):
                text = encoded.packet(subscriber.subscription_id, cursor)
                write_now = getattr(socket, "write_now", None)
                if write_now is not None and write_now(text):
                    continue
                socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, data=text))
                if not socket.upgraded:
                    socket.poll_waiting = False  # as in publish: later ones wait for the next GET
                continue
            self.parked_updates += 1
            key = ("data", subscriber.subscription_id)
            previous = connection.parked.get(key)
            older = previous.update.data if previous is not None and previous.update else None
            if isinstance(older, BookFrame) and previous is not None and previous.update:
                depth = subscriber.echo.view.depth if subscriber.echo else None
                frame_for = merge_frames(older, frame, depth)
                update_for = replace(update, data=frame_for, cached=previous.update.cached)
                connection.parked[key] = _Parked(update=update_for)
            else:
                connection.parked[key] = _Parked(update=update)
            self._after_park(connection, subscriber.connection_id, socket)

    def publish_error(self, message: str, subscribers: Sequence[Subscriber]) -> None:
        message = scrub_text(message)
        for subscriber in subscribers:
            self._send_rare(subscriber, "error", error_packet(subscriber.subscription_id, message))

    def publish_status(
        self, state: StreamState, reason: str, subscribers: Sequence[Subscriber]
    ) -> None:
        reason = scrub_text(reason)
        for subscriber in subscribers:
            self._send_rare(
                subscriber, "status", status_packet(subscriber.subscription_id, state, reason)
            )

    def _send_rare(self, subscriber: Subscriber, kind: str, text: str) -> None:
        connection, socket = self._socket(subscriber.connection_id)
        if connection is None:
            return
        # Errors and status changes are rare (retries back off), so they may pass a queue
        # full of data. Parked, the latest of each kind wins.
        if socket is not None and self._room(socket, 3 * self._max_queued):
            socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, data=text))
        else:
            connection.parked[(kind, subscriber.subscription_id)] = _Parked(text=text)
            self._behind.add(subscriber.connection_id)
            self._wake_flusher()

    def discard(self, subscriber: Subscriber) -> None:
        connection = self._connections.get(subscriber.connection_id)
        if connection is not None and connection.parked:
            connection.parked.pop(("data", subscriber.subscription_id), None)
            connection.parked.pop(("error", subscriber.subscription_id), None)
            connection.parked.pop(("status", subscriber.subscription_id), None)
        if connection is not None:
            connection.cursors.pop(subscriber.subscription_id, None)

    async def aclose(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        self._connections.clear()
        self._behind.clear()

    def parked_count(self) -> int:
        return sum(len(c.parked) for c in self._connections.values())

    # -- internals ------------------------------------------------------------------------

    def _socket(self, sid: str) -> tuple[_Connection | None, Any]:
        connection = self._connections.get(sid)
        if connection is None:
            eio_sid = self._sio.manager.eio_sid_from_sid(sid, self._namespace)
            if eio_sid is None:
                return None, None
            connection = self._connections[sid] = _Connection(eio_sid)
            self._by_eio[eio_sid] = sid
        socket = self._sio.eio.sockets.get(connection.eio_sid)
        if socket is None or socket.closed:
            return connection, None
        return connection, socket

    def _room(self, socket: Any, extra: int) -> bool:
        return bool(socket.queue.qsize() < self._max_queued + extra)

    def _ready(self, socket: Any) -> bool:
        """Whether a data packet may go to the queue now: a websocket with room, or a
        long-polling socket whose GET is waiting (else the packet would go stale there).
        ``publish`` inlines the same test on its hot path."""
        if not self._room(socket, 0):
            return False
        return bool(socket.upgraded or getattr(socket, "poll_waiting", True))

    def _drain(self, connection: _Connection, socket: Any) -> None:
        """Move parked updates to the queue: while it has room on a websocket, all of them
        for a long-polling GET (one per subscription at most)."""
        polling = not socket.upgraded
        while connection.parked and (polling or self._room(socket, 0)):
            key = next(iter(connection.parked))
            item = connection.parked.pop(key)
            text = item.text
            if text is None and item.update is not None:
                text = self._parked_text(connection, key[1], item.update)
            if text is not None:
                socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, data=text))

    def _park_data(
        self,
        connection: _Connection,
        subscriber: Subscriber,
        update: StreamUpdate,
        text: str,
        socket: Any,
    ) -> None:
        self.parked_updates += 1
        key = ("data", subscriber.subscription_id)
        if update.data_type in LATEST_WINS:
            connection.parked[key] = _Parked(text=text)
        else:
            previous = connection.parked.get(key)
            if previous is not None and previous.update is not None:
                data = merge(update.data_type, previous.update.data, update.data)
            else:
                data = snapshot(update.data_type, update.data)
            connection.parked[key] = _Parked(update=replace(update, data=data))
        self._after_park(connection, subscriber.connection_id, socket)

    def _after_park(self, connection: _Connection, connection_id: str, socket: Any) -> None:
        if socket is not None and not socket.upgraded and hasattr(socket, "poll_waiting"):
            if socket.poll_waiting:
                self._drain(connection, socket)
            return  # long-polling: the next GET collects it (before_poll), not the flusher
        self._behind.add(connection_id)
        self._wake_flusher()

    @staticmethod
    def _parked_text(connection: _Connection, subscription_id: str, update: StreamUpdate) -> str:
        if isinstance(update.data, BookFrame):
            cursor = connection.cursors.setdefault(subscription_id, _Cursor())
            return _FrameText(update, update.data).packet(subscription_id, cursor)
        return data_packet(subscription_id, encode_data_tail(update))

    def _wake_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_forever(), name="socketio-slow-consumer-flush"
            )

    async def _flush_forever(self) -> None:
        while self._behind:
            await asyncio.sleep(self._flush_interval)
            try:
                self._flush_once()
            except Exception:  # the flusher must outlive one bad socket
                log.exception("socketio_flush_failed")

    def _flush_once(self) -> None:
        for sid in list(self._behind):
            connection = self._connections.get(sid)
            if connection is None or not connection.parked:
                self._behind.discard(sid)
                continue
            _, socket = self._socket(sid)
            if socket is None:
                connection.parked.clear()  # the client is gone; its updates go with it
                self._behind.discard(sid)
                continue
            if not socket.upgraded and hasattr(socket, "poll_waiting"):
                self._behind.discard(sid)  # long-polling: collected by its next GET
                if socket.poll_waiting:
                    self._drain(connection, socket)
                continue
            self._drain(connection, socket)
            if not connection.parked:
                self._behind.discard(sid)
