"""Cache keys that identify a config without revealing any credential."""

from __future__ import annotations

import hashlib
import hmac
import os

from app.domain.config import ExchangeConfig


class CacheKeyer:
    """Keys configs with an HMAC of the whole credential tuple under a per-process secret.

    Two API keys sharing a prefix, or one key with a rotated secret, give different keys;
    nobody who reads a key (logs, metrics) can test a guessed credential against it without
    the process secret. The nodes of a cluster share one secret (``adopt``).
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)

    def adopt(self, secret: bytes) -> None:
        """Use the cluster's shared secret (issue 12, ADR 0142): every node then keys equal
        credentials alike. Called once at start, before any key is made."""
        if not secret:
            raise ValueError("empty key secret")
        self._secret = secret

    def key_for(self, config: ExchangeConfig) -> str:
        mode = "sandbox" if config.sandbox else "live"
        base = f"{config.exchange_id}:{config.market_type}:{config.ccxt_type}:{mode}"
        if not config.has_credentials:
            return f"{base}:public"
        creds = config.credentials
        # Length-prefixed fields: ("ab", "c") and ("a", "bc") must not collide.
        material = b"".join(
            len(part).to_bytes(4, "big") + part
            for part in (
                (creds.api_key or "").encode(),
                (creds.secret or "").encode(),
                (creds.password or "").encode(),
            )
        )
        digest = hmac.new(self._secret, material, hashlib.sha256).hexdigest()[:32]
        return f"{base}:cred-{digest}"
