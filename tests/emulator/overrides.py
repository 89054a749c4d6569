"""The ccxt constructor override that points every URL of an exchange at the emulator."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

LOCAL_HOST = "127.0.0.1"


def _local(url: str, http_base: str, ws_base: str) -> str:
    """``wss://stream.binance.com:9443/ws`` -> ``ws://127.0.0.1:P/stream.binance.com/ws``.

    The original host name is kept as the first path segment: binance's ws code tells spot
    from swap by ``'/stream' in url``, and the emulator can tell live from testnet hosts.
    """
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
    base = ws_base if parts.scheme in ("ws", "wss") else http_base
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{base}/{host}{rest}"


def _rewrite(node: Any, http_base: str, ws_base: str) -> Any:
    if isinstance(node, dict):
        return {key: _rewrite(value, http_base, ws_base) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite(value, http_base, ws_base) for value in node]
    if isinstance(node, str) and node.split("://", 1)[0] in ("http", "https", "ws", "wss"):
        return _local(node, http_base, ws_base)
    return node


def emulator_overrides(
    base_url: str, exchange_id: str = "binance", *, pro: bool = False
) -> dict[str, Any]:
    """ccxt constructor config sending every URL of ``exchange_id`` to ``base_url``.

    The URL tree comes from the class's own ``describe()`` at runtime, so a key added by a
    new ccxt release cannot keep pointing at the real exchange. Every string URL anywhere
    under ``urls`` (api, test, demo, nested ws maps, www, doc...) is rewritten.
    """
    module = importlib.import_module("ccxt.pro" if pro else "ccxt.async_support")
    urls = getattr(module, exchange_id)().describe()["urls"]  # a bare instance: ~0.25 MB, no I/O
    http_base = base_url.rstrip("/")
    ws_base = "ws" + http_base[len("http") :]
    return {
        "urls": _rewrite(urls, http_base, ws_base),
        "options": {
            "fetchCurrencies": False,  # signed sapi calls with credentials
            "fetchMargins": False,
            "adjustForTimeDifference": False,
        },
    }


def non_local_urls(exchange: Any) -> list[str]:
    """Every URL in a ccxt instance's ``urls`` that does not point at 127.0.0.1."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and "://" in node and urlsplit(node).hostname != LOCAL_HOST:
            found.append(node)

    walk(exchange.urls)
    return found
