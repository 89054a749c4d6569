"""The CORS proxy: forward a browser's request to a public HTTP API, never to our own network."""

from app.domain.proxy.errors import ProxyFailed, ProxyResponseTooLarge
from app.domain.proxy.guard import SsrfGuard, Target, VettedTarget
from app.domain.proxy.policy import AllowList, ProxyPolicy
from app.domain.proxy.result import ProxyResult
from app.domain.proxy.service import ProxyCall, ProxyService

__all__ = [
    "AllowList",
    "ProxyCall",
    "ProxyFailed",
    "ProxyPolicy",
    "ProxyResponseTooLarge",
    "ProxyResult",
    "ProxyService",
    "SsrfGuard",
    "Target",
    "VettedTarget",
]
