"""profitmaker-server: CCXT behind one authenticated HTTP + Socket.IO endpoint."""

__version__ = "0.1.0"
