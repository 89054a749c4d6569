"""BoundedSocket.poll: engine.io's results without asyncio.wait_for's task per call (ADR 0130).

Each case is checked against engine.io's own ``AsyncSocket.poll`` on an identical socket, so
the override stays a drop-in: same packets, same order, same end-of-queue and time-limit
behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from engineio import async_socket, exceptions
from engineio import packet as eio_packet

from app.adapters.socketio.engine import BoundedSocket


class _Server:
    """The parts of an engine.io server that ``poll`` reads."""

    def __init__(self, ping_interval: float = 25, ping_timeout: float = 20) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.poll_listeners: list[Callable[[str], None]] = []

    def create_queue(self) -> asyncio.Queue[Any]:
        return asyncio.Queue()


def _message(text: str) -> eio_packet.Packet:
    return eio_packet.Packet(eio_packet.MESSAGE, data=text)


def _sockets(server: _Server) -> list[Any]:
    """Ours and engine.io's stock socket, on the same server."""
    return [BoundedSocket(server, "ours"), async_socket.AsyncSocket(server, "stock")]


def _texts(packets: list[eio_packet.Packet]) -> list[Any]:
    return [p.data for p in packets]


async def test_queued_packets_come_in_one_batch_in_order() -> None:
    for socket in _sockets(_Server()):
        for text in ("a", "b", "c"):
            socket.queue.put_nowait(_message(text))
        assert _texts(await socket.poll()) == ["a", "b", "c"], type(socket)
        assert socket.queue.empty()


async def test_an_empty_queue_is_waited_on_until_a_packet_arrives() -> None:
    for socket in _sockets(_Server()):
        waiting = asyncio.ensure_future(socket.poll())
        await asyncio.sleep(0)
        assert not waiting.done()  # positive control below: the packet ends the wait
        if isinstance(socket, BoundedSocket):
            assert socket.poll_waiting  # the publisher's "a GET or writer waits" flag
        socket.queue.put_nowait(_message("x"))
        assert _texts(await asyncio.wait_for(waiting, 1)) == ["x"], type(socket)
        if isinstance(socket, BoundedSocket):
            assert not socket.poll_waiting


async def test_the_close_marker_ends_a_batch_and_is_put_back() -> None:
    for socket in _sockets(_Server()):
        socket.queue.put_nowait(_message("before"))
        socket.queue.put_nowait(None)
        socket.queue.put_nowait(_message("after"))
        assert _texts(await socket.poll()) == ["before"], type(socket)
        assert _texts(await socket.poll()) == ["after"], type(socket)
        assert await socket.poll() == [], type(socket)  # the marker, put back, ends it


async def test_no_packet_within_the_ping_window_is_queue_empty() -> None:
    for socket in _sockets(_Server(ping_interval=0.01, ping_timeout=0.01)):
        with pytest.raises(exceptions.QueueEmpty):
            await asyncio.wait_for(socket.poll(), 2)


async def test_a_cancelled_wait_is_queue_empty_as_in_engineio() -> None:
    for socket in _sockets(_Server()):
        caught: list[BaseException] = []

        async def writer(
            poll: Callable[[], Awaitable[Any]] = socket.poll, caught: list[BaseException] = caught
        ) -> None:
            try:
                await poll()
            except exceptions.QueueEmpty as exc:
                caught.append(exc)

        task = asyncio.ensure_future(writer())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait({task}, timeout=1)
        assert len(caught) == 1, type(socket)


async def test_poll_listeners_run_before_the_packets_are_collected() -> None:
    server = _Server()
    socket = BoundedSocket(server, "ours")
    server.poll_listeners.append(lambda sid: socket.queue.put_nowait(_message(f"for {sid}")))
    socket.queue.put_nowait(_message("queued"))
    assert _texts(await socket.poll()) == ["queued", "for ours"]


class _Transport:
    """uvicorn's side of ``write_now``: its websocket ``send`` and ``writable`` event."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent: list[str] = []
        self.fail: BaseException | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()  # uvicorn waits here while the transport is paused
        if self.fail is not None:
            raise self.fail
        self.sent.append(message["text"])


def _websocket(transport: _Transport) -> BoundedSocket:
    """A BoundedSocket upgraded to websocket whose writer task waits on its empty queue."""
    socket = BoundedSocket(_Server(), "ws")
    socket.upgraded = True
    socket.poll_waiting = True
    socket._direct = transport.send
    return socket


async def test_write_now_writes_the_engineio_message_at_once() -> None:
    transport = _Transport()
    socket = _websocket(transport)
    assert socket.write_now('2["data",{}]')
    assert transport.sent == ['42["data",{}]']  # engine.io MESSAGE ("4") + socket.io packet
    assert socket.queue.empty()


async def test_write_now_never_overtakes_a_packet_already_queued() -> None:
    transport = _Transport()
    socket = _websocket(transport)
    socket.queue.put_nowait(_message("earlier"))
    assert not socket.write_now("later")
    socket.queue.get_nowait()
    assert socket.write_now("later")  # positive control: same socket, queue now empty
    assert transport.sent == ["4later"]


async def test_write_now_leaves_a_busy_writer_alone() -> None:
    transport = _Transport()
    socket = _websocket(transport)
    socket.poll_waiting = False  # the writer is sending what it took from the queue
    assert not socket.write_now("x")
    assert transport.sent == []


async def test_write_now_is_refused_while_the_transport_is_paused() -> None:
    transport = _Transport()
    socket = _websocket(transport)
    transport.writable.clear()
    assert not socket.write_now("x")
    assert transport.sent == []
    transport.writable.set()
    assert socket.write_now("x")
    assert transport.sent == ["4x"]


async def test_write_now_that_would_wait_after_all_writes_nothing() -> None:
    transport = _Transport()
    socket = _websocket(transport)

    class Flaky(asyncio.Event):
        """Says set, then waits anyway: the send must be abandoned before any byte."""

        def is_set(self) -> bool:
            return True

    transport.writable = Flaky()
    assert not socket.write_now("x")
    assert transport.sent == []


async def test_write_now_on_a_gone_client_leaves_it_to_the_writer() -> None:
    transport = _Transport()
    socket = _websocket(transport)
    transport.fail = ConnectionResetError()
    assert not socket.write_now("x")  # the queue takes it; the writer meets the error
    assert transport.sent == []


async def test_write_now_only_for_websockets_with_uvicorns_sender() -> None:
    transport = _Transport()
    polling = _websocket(transport)
    polling.upgraded = False  # long-polling: a GET collects the queue
    assert not polling.write_now("x")
    unknown = _websocket(transport)
    unknown._direct = None  # another ASGI server, or the session is no websocket
    assert not unknown.write_now("x")
    closing = _websocket(transport)
    closing.closing = True
    assert not closing.write_now("x")
    assert transport.sent == []
