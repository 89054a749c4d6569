"""Bounded python-socketio / python-engineio: every use of their internals lives here.

python-socketio 5.18 and python-engineio 4.15, used as they come, differ from the Node
server our clients were written for (issue 10 item 9, ADR 0070):

- the binary-packet parser takes any attachment count and buffers every attachment until
  the packet completes; a placeholder naming a missing attachment leaves the packet pending
  for good (every later message is dropped as an "unexpected attachment");
- a long-polling POST of more than 16 packets is logged and answered 200, its packets lost;
- a decode error is logged and the message dropped, the client never learns;
- an engine.io session that never joins a namespace, or never reads, is kept until the
  heartbeat gives up, and its outgoing queue has no bound.

Each is fixed by subclassing (``BoundedPacket``, ``BoundedSocket``, ``BoundedEngineServer``,
``BoundedSocketIOServer``), configured by ``SocketIOSettings``. A protocol violation closes
the engine.io transport (not a Socket.IO disconnect), as Node's parser does, so the client
reconnects. A payload nested deeper than the limit is bad input, answered with an error
event. ``tests/integration/test_socketio_engine_versions.py`` pins the versions these
internals were read from.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from typing import Any

import engineio
import socketio
import structlog
from engineio import async_socket as eio_async_socket
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from socketio import packet as sio_packet

from app.domain.errors import NestingTooDeep
from app.domain.nesting import MAX_NESTING_DEPTH, check_json_nesting
from app.settings import SocketIOSettings

log = structlog.get_logger(__name__)

PollListener = Callable[[str], None]
"""Called with an engine.io sid just before that socket's packets are collected for sending."""


class ProtocolViolation(ValueError):
    """The client broke the Socket.IO/engine.io protocol or a transport limit: close it."""


class PayloadTooDeep(ProtocolViolation):
    """An event payload nests deeper than the limit: bad input, answered, not closed."""

    def __init__(self, packet: sio_packet.Packet, event: str | None, error: NestingTooDeep):
        super().__init__(error.details)
        self.packet = packet
        self.event = event
        self.details = error.details


class TooManyPackets(eio_exceptions.EngineIOError):  # type: ignore[misc]
    """A long-polling POST carried more packets than allowed: engine.io answers 400."""


_EVENT_NAME = re.compile(r'\[\s*"((?:[^"\\]|\\.){1,100})"')


class BoundedPacket(sio_packet.Packet):  # type: ignore[misc]
    """A Socket.IO packet whose decoder enforces the limits of ``settings``.

    Use ``BoundedPacket.configured(settings)``: the limits are class attributes because
    python-socketio creates packets through the class (``server.packet_class(...)``).
    """

    max_attachments = 10
    max_attachment_bytes = 1_000_000
    max_depth = MAX_NESTING_DEPTH

    @classmethod
    def configured(cls, settings: SocketIOSettings) -> type[BoundedPacket]:
        return type(
            "BoundedPacket",
            (cls,),
            {
                "max_attachments": settings.max_attachments,
                "max_attachment_bytes": settings.max_attachment_bytes,
            },
        )

    def decode(self, encoded_packet: Any) -> int:
        if not isinstance(encoded_packet, str):
            # Binary data arrives only as an attachment of a pending binary packet.
            raise ProtocolViolation("binary message without a binary packet")
        start = _json_start(encoded_packet)
        if start >= 0:
            try:
                check_json_nesting(encoded_packet[start:], self.max_depth)
            except NestingTooDeep as exc:
                super().decode(encoded_packet[:start])  # header only: type, namespace, id
                match = _EVENT_NAME.match(encoded_packet, start)
                raise PayloadTooDeep(self, match.group(1) if match else None, exc) from None
        count = int(super().decode(encoded_packet))
        if count > self.max_attachments:
            raise ProtocolViolation(f"{count} attachments (max {self.max_attachments})")
        if self.packet_type in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
            if count == 0:  # Node's decoder treats it as a plain event; so do we
                self.packet_type -= sio_packet.BINARY_EVENT - sio_packet.EVENT
            else:
                _check_placeholders(self.data, count)
        self._attachment_bytes = 0
        return count

    def add_attachment(self, attachment: Any) -> bool:
        if not isinstance(attachment, bytes | bytearray):
            raise ProtocolViolation("text message while binary attachments were expected")
        self._attachment_bytes = getattr(self, "_attachment_bytes", 0) + len(attachment)
        if self._attachment_bytes > self.max_attachment_bytes:
            raise ProtocolViolation(f"attachments over {self.max_attachment_bytes} bytes")
        return bool(super().add_attachment(attachment))


def _is_connect(data: Any) -> bool:
    return isinstance(data, str) and data.startswith("0")


def _json_start(text: str) -> int:
    positions = [p for p in (text.find("["), text.find("{")) if p >= 0]
    return min(positions) if positions else -1


def _check_placeholders(data: Any, count: int) -> None:
    """Every ``{"_placeholder": true, "num": n}`` must name an attachment (Node: "illegal
    attachments"); else the packet could never complete. ``data`` is depth-checked already."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("_placeholder") and "num" in item:
                num = item["num"]
                if type(num) is not int or not 0 <= num < count:
                    raise ProtocolViolation("placeholder names a missing attachment")
                continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class BoundedSocket(eio_async_socket.AsyncSocket):  # type: ignore[misc]
    """An engine.io socket with a packet-count bound per POST, an outgoing queue bound and a
    hook before each poll (the publisher's moment to hand over its freshest updates)."""

    poll_waiting = False
    """True while a long-polling GET (or the websocket writer) waits for packets."""

    server: BoundedEngineServer

    async def poll(self) -> Any:
        for listener in self.server.poll_listeners:
            listener(self.sid)
        self.poll_waiting = True
        try:
            return await self._collect()
        finally:
            self.poll_waiting = False

    async def _collect(self) -> list[eio_packet.Packet]:
        """engine.io's ``AsyncSocket.poll``, same results, fewer loop hops (ADR 0130).

        engine.io waits with ``asyncio.wait_for(queue.get(), ...)``, which on Python 3.11
        starts a task and a timer per call: each packet a websocket writer sends costs three
        event-loop hops (queue getter, that task, the waiter) before its bytes are written,
        and at 500 clients x 10 Hz those hops are most of the fan-out's spread. Here a queued
        packet is taken at once, and an empty queue is awaited inside the writer's own task
        (one hop) under the same time limit. Returns ``[]`` once the queue says the socket
        is closing (``None``), as engine.io does; raises ``QueueEmpty`` on the time limit or
        a cancellation.
        """
        queue = self.queue
        if queue.empty():
            limit = self.server.ping_interval + self.server.ping_timeout
            try:
                async with asyncio.timeout(limit):
                    first = await queue.get()
            except (TimeoutError, asyncio.CancelledError):
                raise eio_exceptions.QueueEmpty() from None
        else:
            first = queue.get_nowait()
        queue.task_done()
        if first is None:
            return []
        packets = [first]
        while not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)  # the writer's next poll ends it, as in engine.io
                break
            packets.append(pkt)
        return packets

    _direct: Callable[[dict[str, Any]], Coroutine[Any, Any, None]] | None = None
    """uvicorn's websocket ``send`` for this session, while it is a websocket (write_now)."""

    async def _websocket_handler(self, ws: Any) -> Any:
        self._direct = _uvicorn_send(getattr(ws, "asgi_send", None))
        try:
            return await super()._websocket_handler(ws)
        finally:
            self._direct = None

    def write_now(self, text: str) -> bool:
        """Write one MESSAGE packet to the websocket in the caller's step (ADR 0130).

        engine.io hands every packet to the session's writer task through its queue: at
        500 clients x 10 Hz that is 5,000 task wake-ups a second, one after the other, so
        the last client of an update is written many milliseconds after the first. When
        nothing can be ahead of this packet (a websocket whose writer waits on an empty
        queue) and uvicorn's transport takes data (not paused by flow control), the frame
        is written here at once instead, as Node's socket.io does in its broadcast loop.

        Returns:
            True when written; False when the caller should queue it as usual (long-polling,
            a busy or paused writer, another ASGI server, or the client has gone: the writer
            then meets the same and ends the session).
        """
        send = self._direct
        if (
            send is None
            or not self.poll_waiting
            or not self.upgraded
            or self.closing
            or not self.queue.empty()
            or not send.__self__.writable.is_set()  # type: ignore[attr-defined]
        ):
            return False
        step = send({"type": "websocket.send", "bytes": None, "text": "4" + text})
        try:
            step.send(None)
        except StopIteration:
            return True
        except Exception:  # noqa: BLE001 - ClientDisconnected & co: the writer will see it
            return False
        # It waited after all (only ever before writing a byte): the queue takes the packet.
        step.close()
        return False

    async def send(self, pkt: eio_packet.Packet) -> None:
        if self.queue.qsize() >= self.server.limits.max_queued_packets and not self.closing:
            await self.server.drop(self.sid, "outgoing queue full: the client does not read")
            return
        await super().send(pkt)

    async def handle_post_request(self, environ: dict[str, Any]) -> None:
        # Same as engine.io's, except that too many packets (or an undecodable payload) is a
        # 400 that closes the session, not a log line and a 200 that loses the packets.
        length = int(environ.get("CONTENT_LENGTH", "0"))
        if length > self.server.max_http_buffer_size:
            # Closed here without waiting: engine.io's own disconnect would wait for a GET
            # to collect the CLOSE packet, holding this POST open meanwhile.
            await self.server.drop(
                self.sid, "POST body over max_http_buffer_size", disconnect=False
            )
            raise eio_exceptions.ContentTooLongError()
        body = (await environ["wsgi.input"].read(length)).decode("utf-8")
        payload = eio_payload.Payload()
        payload.max_decode_packets = self.server.limits.max_payload_packets
        try:
            payload.decode(body)
        except ValueError as exc:
            log.info("socketio_bad_polling_payload", reason=str(exc)[:200])
            await self.server.drop(self.sid, "bad long-polling payload", disconnect=False)
            raise TooManyPackets() from None
        for pkt in payload.packets:
            await self.receive(pkt)


def _uvicorn_send(send: Any) -> Any:
    """uvicorn's websocket protocol ``send`` (websockets-sansio, the one the CLI configures),
    or None for anything else: only its send is known to finish without waiting while its
    ``writable`` event is set, which ``write_now`` relies on."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    owner = getattr(send, "__self__", None)
    if isinstance(owner, WebSocketsSansIOProtocol) and isinstance(owner.writable, asyncio.Event):
        return send
    return None


class BoundedEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io server whose sockets are ``BoundedSocket``s."""

    def __init__(self, *, limits: SocketIOSettings, **kwargs: Any) -> None:
        super().__init__(
            ping_interval=limits.ping_interval_seconds,
            ping_timeout=limits.ping_timeout_seconds,
            max_http_buffer_size=limits.max_http_buffer_size,
            **kwargs,
        )
        self.limits = limits
        self.poll_listeners: list[PollListener] = []

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            # engine.io has no socket-class hook: the socket it just created (no packet of
            # the client read yet) becomes a BoundedSocket, which only overrides methods.
            socket = self.sockets.get(args[0])
            if type(socket) is eio_async_socket.AsyncSocket:
                socket.__class__ = BoundedSocket
        return await super()._trigger_event(event, *args, **kwargs)

    async def drop(self, sid: str, reason: str, *, disconnect: bool = True) -> None:
        """Close one session at once: its backlog is discarded, a CLOSE packet tells the
        client (which then reconnects), and the websocket writer is let go."""
        socket = self.sockets.get(sid)
        if socket is None or socket.closing or socket.closed:
            return
        log.info("socketio_connection_dropped", reason=reason)
        while not socket.queue.empty():
            socket.queue.get_nowait()
            socket.queue.task_done()
        await socket.close(wait=False, abort=False, reason=self.reason.TRANSPORT_ERROR)
        socket.queue.put_nowait(None)  # ends the websocket writer after the CLOSE packet
        if disconnect:
            self.sockets.pop(sid, None)


class BoundedSocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    """Socket.IO server with ``SocketIOSettings`` enforced (ADR 0070).

    Args:
        limits: the transport bounds.
        is_authenticated: tells whether a Socket.IO sid has authenticated (the protocol
            handlers know; the transport only asks).
        bad_payload_events: the error event answering a too-deep payload, per event name
            (default ``error``), e.g. ``{"subscribe": "subscription_error"}``.
        bad_payload_fields: extra fields of that answer per error event (the echo fields
            of ``subscription_error``).
        kwargs: passed to ``socketio.AsyncServer`` (cors, transports, ...).
    """

    def __init__(
        self,
        *,
        limits: SocketIOSettings,
        is_authenticated: Callable[[str], bool],
        bad_payload_events: dict[str, str] | None = None,
        bad_payload_fields: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        self._limits = limits
        super().__init__(serializer=BoundedPacket.configured(limits), **kwargs)
        self._is_authenticated = is_authenticated
        self._bad_payload_events = bad_payload_events or {}
        self._bad_payload_fields = bad_payload_fields or {}
        self._events_before_auth: dict[str, int] = {}
        self._unauthenticated: set[str] = set()
        """engine.io sids that have not authenticated yet (pruned on each handshake)."""

    def _engineio_server_class(self) -> type[BoundedEngineServer]:
        limits = self._limits

        class _Engine(BoundedEngineServer):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(limits=limits, **kwargs)

        return _Engine

    @property
    def engine(self) -> BoundedEngineServer:
        return self.eio  # type: ignore[no-any-return]

    # -- engine.io session lifecycle ----------------------------------------------------

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        self._prune_unauthenticated()
        if len(self._unauthenticated) >= self._limits.max_unauthenticated_connections:
            log.warning(
                "socketio_handshake_refused",
                reason="too many unauthenticated connections",
                limit=self._limits.max_unauthenticated_connections,
            )
            return False
        self._unauthenticated.add(eio_sid)
        asyncio.get_running_loop().call_later(
            self._limits.connect_timeout_seconds, self._check_joined, eio_sid
        )
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._unauthenticated.discard(eio_sid)
        self._events_before_auth.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    def _check_joined(self, eio_sid: str) -> None:
        if eio_sid in self.eio.sockets and self._sid(eio_sid) is None:
            asyncio.get_running_loop().create_task(
                self.engine.drop(eio_sid, "no namespace joined within the connect timeout")
            )

    def _sid(self, eio_sid: str, namespace: str | None = None) -> str | None:
        return self.manager.sid_from_eio_sid(eio_sid, namespace or "/")  # type: ignore[no-any-return]

    def _authenticated(self, eio_sid: str) -> bool:
        if eio_sid not in self._unauthenticated:
            return True
        sid = self._sid(eio_sid)
        if sid is not None and self._is_authenticated(sid):
            self._unauthenticated.discard(eio_sid)
            self._events_before_auth.pop(eio_sid, None)
            return True
        return False

    def _prune_unauthenticated(self) -> None:
        for eio_sid in list(self._unauthenticated):
            if eio_sid not in self.eio.sockets:
                self._unauthenticated.discard(eio_sid)
            else:
                self._authenticated(eio_sid)

    # -- messages -------------------------------------------------------------------------

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            if not self._authenticated(eio_sid) and not _is_connect(data):
                count = self._events_before_auth.get(eio_sid, 0) + 1
                self._events_before_auth[eio_sid] = count
                if count > self._limits.max_events_before_auth:
                    raise ProtocolViolation("too many packets before authentication")
            await super()._handle_eio_message(eio_sid, data)
            pending = self._binary_packet.get(eio_sid)
            if (
                pending is not None
                and not self._limits.binary_before_auth
                and not self._authenticated(eio_sid)
            ):
                raise ProtocolViolation("binary packet before authentication")
        except PayloadTooDeep as exc:
            await self._answer_too_deep(eio_sid, exc)
        except (ProtocolViolation, ValueError, TypeError, KeyError, IndexError) as exc:
            # Anything the parser cannot take (bad JSON, bad header, bad attachment): close
            # the transport, as Node's parser does, so the client reconnects cleanly.
            self._binary_packet.pop(eio_sid, None)
            if isinstance(exc, ProtocolViolation):
                log.info("socketio_protocol_error", reason=str(exc)[:200])
            else:  # upstream's parser (or the inline connect handler) raised: keep it visible
                log.warning("socketio_protocol_error", reason=type(exc).__name__)
            await self.engine.drop(eio_sid, "protocol error")

    async def _answer_too_deep(self, eio_sid: str, exc: PayloadTooDeep) -> None:
        pkt = exc.packet
        sid = self._sid(eio_sid, pkt.namespace)
        if pkt.packet_type != sio_packet.EVENT or sid is None:
            log.info("socketio_protocol_error", reason=exc.details)
            await self.engine.drop(eio_sid, "protocol error")
            return
        event = self._bad_payload_events.get(exc.event or "", "error")
        answer = {"error": exc.details, **self._bad_payload_fields.get(event, {})}
        await self.emit(event, answer, to=sid, namespace=pkt.namespace or "/")


__all__ = [
    "BoundedEngineServer",
    "BoundedPacket",
    "BoundedSocket",
    "BoundedSocketIOServer",
    "PayloadTooDeep",
    "PollListener",
    "ProtocolViolation",
]
