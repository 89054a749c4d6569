"""Version guard for app/adapters/socketio/engine.py (ADR 0070).

The bounded subclasses override python-socketio/python-engineio internals read from the
pinned versions. An upgrade must re-read them: this test fails first, naming what moved.
"""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

import engineio
import socketio
from engineio import async_socket, payload
from socketio import packet

from app.adapters.socketio.engine import BoundedEngineServer, BoundedSocket, BoundedSocketIOServer

ROOT = Path(__file__).resolve().parents[2]


def pinned(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==")[1] for d in deps if d.startswith(name + "=="))


def test_installed_versions_are_the_ones_the_overrides_were_read_from() -> None:
    assert version("python-socketio") == pinned("python-socketio") == "5.18.1"
    assert version("python-engineio") == pinned("python-engineio") == "4.15.1"


def test_the_internals_relied_on_still_exist() -> None:
    # socket.io: the packet-class hook, the pending-binary table, the message entry point.
    assert "serializer" in inspect.signature(socketio.base_server.BaseServer.__init__).parameters
    assert hasattr(packet.Packet, "add_attachment")
    assert hasattr(packet.Packet, "reconstruct_binary")
    assert "_binary_packet" in inspect.getsource(socketio.base_server.BaseServer.__init__)
    for name in ("_handle_eio_message", "_handle_eio_connect", "_handle_eio_disconnect"):
        assert inspect.iscoroutinefunction(getattr(socketio.AsyncServer, name)), name
    assert hasattr(socketio.AsyncServer, "_engineio_server_class")
    # engine.io: the socket we subclass, created in _handle_connect, then 'connect' fires.
    source = inspect.getsource(engineio.AsyncServer._handle_connect)
    assert "async_socket.AsyncSocket(self, sid)" in source
    assert source.index("AsyncSocket(self, sid)") < source.index("_trigger_event('connect'")
    for name in ("poll", "send", "handle_post_request", "close"):
        assert inspect.iscoroutinefunction(getattr(async_socket.AsyncSocket, name)), name
    assert payload.Payload.max_decode_packets == 16  # what the POST override replaces
    assert "max_http_buffer_size" in inspect.signature(engineio.AsyncServer.__init__).parameters


def test_the_bounded_classes_extend_them() -> None:
    assert issubclass(BoundedSocket, async_socket.AsyncSocket)
    assert issubclass(BoundedEngineServer, engineio.AsyncServer)
    assert issubclass(BoundedSocketIOServer, socketio.AsyncServer)
    # __class__ assignment needs the same layout: no __slots__ on either side.
    assert not hasattr(async_socket.AsyncSocket, "__slots__")
    assert "__slots__" not in vars(BoundedSocket)
