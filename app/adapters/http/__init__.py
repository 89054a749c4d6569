"""HTTP client adapters for the OutboundHttp port."""

from app.adapters.http.httpx_client import HttpxOutboundHttp, PinnedNetworkBackend

__all__ = ["HttpxOutboundHttp", "PinnedNetworkBackend"]
