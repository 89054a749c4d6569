"""Socket.IO adapter of the StreamPublisher port."""

from app.adapters.socketio.publisher import SocketIOPublisher

__all__ = ["SocketIOPublisher"]
