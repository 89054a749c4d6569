"""Socket.IO entrypoint: authenticate, subscribe, unsubscribe (contract section 3)."""

from app.entrypoints.socketio.server import create_socketio_server

__all__ = ["create_socketio_server"]
