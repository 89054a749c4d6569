"""TokenBook: the tokens the server accepts, each with a name and optional quotas."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

API_TOKEN_NAME = "api_token"
"""The name API_TOKEN (or the loopback default token) appears under in logs and metrics."""


@dataclass(frozen=True, slots=True)
class NamedToken:
    """A token as the server knows it: its name, the SHA-256 of its value, its quotas.

    ``requests_per_minute`` (REST) and ``max_subscriptions`` (Socket.IO) are None when the
    token has no such quota.
    """

    name: str
    sha256: bytes
    requests_per_minute: int | None = None
    max_subscriptions: int | None = None


class TokenBook:
    """An immutable set of accepted tokens; replaced as a whole when the config is reloaded.

    Only digests are kept: the book never holds a named token's value. Matching hashes the
    presented token once and compares it with every digest in constant time (no early exit),
    so the answer time does not tell how much of a token matched, nor which one.
    """

    def __init__(self, tokens: Iterable[NamedToken]) -> None:
        self._tokens = tuple(tokens)
        self._by_name = {token.name: token for token in self._tokens}

    @classmethod
    def build(cls, api_token: str, named: Iterable[NamedToken]) -> TokenBook:
        """The book for API_TOKEN (under ``API_TOKEN_NAME``, no quota) plus the named ones."""
        primary = NamedToken(API_TOKEN_NAME, digest(api_token.encode()))
        return cls([primary, *named])

    def identify(self, presented: bytes) -> NamedToken | None:
        """The token whose value is ``presented``, or None."""
        candidate = digest(presented)
        found: NamedToken | None = None
        for token in self._tokens:
            if hmac.compare_digest(candidate, token.sha256) and found is None:
                found = token
        return found

    def get(self, name: str) -> NamedToken | None:
        """The current entry for a name (None once revoked)."""
        return self._by_name.get(name)

    def still_accepts(self, token: NamedToken) -> bool:
        """True while ``token`` (as identified earlier) would still be identified: its name
        is in the book with the same digest. A removed (revoked) or re-hashed (rotated)
        entry says False; a changed quota alone does not."""
        current = self._by_name.get(token.name)
        return current is not None and hmac.compare_digest(current.sha256, token.sha256)

    @property
    def names(self) -> list[str]:
        return [token.name for token in self._tokens]


def digest(value: bytes) -> bytes:
    """SHA-256 of a token value (what ``[[tokens]] sha256`` holds, hex-encoded)."""
    return hashlib.sha256(value).digest()
