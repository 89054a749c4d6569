"""Proxy failures; they live in the one domain error tree (``app.domain.errors``)."""

from app.domain.errors import ProxyFailed, ProxyRefused, ProxyResponseTooLarge, ProxyTimeout

__all__ = ["ProxyFailed", "ProxyRefused", "ProxyResponseTooLarge", "ProxyTimeout"]
