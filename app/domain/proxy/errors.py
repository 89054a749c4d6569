"""Proxy failures that the shared tree in ``app.domain.errors`` does not name yet.

    DomainError
    ├── ProxyRefused (app.domain.errors)   the guard refuses the target (400)
    ├── ProxyTimeout (app.domain.errors)   the whole exchange overran its timeout (408)
    └── ProxyFailed                        DNS failure, connection error, too many redirects (500)
        └── ProxyResponseTooLarge          the upstream body passed the size cap (502)

The contract answers 500 for "other" proxy failures, so ``ProxyFailed`` deliberately has no
entry in ``STATUS_BY_ERROR`` (its default is 500); the proxy entrypoint maps the cap to 502.
"""

from __future__ import annotations

from app.domain.errors import DomainError


class ProxyFailed(DomainError):
    """The upstream could not be reached or did not answer usefully."""


class ProxyResponseTooLarge(ProxyFailed):
    """The upstream response body is larger than the configured cap."""
