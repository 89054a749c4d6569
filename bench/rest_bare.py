"""The yardstick of ``bench.rest --overhead``: a bare Litestar app on our server stack.

    .venv/bin/python -m bench.rest_bare --port 8000 --ticker ticker.json

Two routes shaped like ours: ``GET /health`` (a msgspec Struct, as our handler returns) and
``POST /api/exchange/fetchTicker`` (a msgspec-decoded body, the ticker from a file as the
answer's ``data``). No middleware, no logging, no Socket.IO: what Litestar itself costs. It is
served by the same function and settings as the real server (``app.cli``), so the two differ
only in the application.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, get, post

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class Health(msgspec.Struct, kw_only=True):
    status: str
    timestamp: str
    version: str


class Config(msgspec.Struct, kw_only=True):
    exchangeId: str


class TickerRequest(msgspec.Struct, kw_only=True):
    config: Config
    symbol: str


def bare_app(ticker: dict[str, Any]) -> Litestar:
    """The bare app; ``ticker`` is what fetchTicker answers as ``data``."""

    @get("/health")
    async def health() -> Health:
        return Health(status="ok", timestamp="2026-01-01T00:00:00.000Z", version="0.1.0")

    @post("/api/exchange/fetchTicker", status_code=200)
    async def fetch_ticker(data: TickerRequest) -> dict[str, Any]:
        return {"success": True, "data": ticker}

    return Litestar(route_handlers=[health, fetch_ticker], logging_config=None, debug=False)


def main() -> int:
    from app.cli import serve_asgi
    from app.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ticker", required=True, help="JSON file: the ticker to answer")
    args = parser.parse_args()
    ticker = json.loads(Path(args.ticker).read_text())
    settings = load_settings(
        env={}, overrides={"host": args.host, "port": args.port, "socket_port": 0}
    )
    serve_asgi(settings, bare_app(ticker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
