"""Counts CORS proxy calls by outcome and refusals by reason (ProxyService, instrumented)."""

from __future__ import annotations

from app.domain.errors import BadInput, ProxyFailed, ProxyRefused, ProxyTimeout
from app.domain.proxy import ProxyCall, ProxyPolicy, ProxyResult, ProxyService
from app.ports.metrics import Metrics
from app.ports.outbound_http import OutboundHttp
from app.ports.resolver import Resolver

# The guard's refusal texts, mapped to a bounded reason word (first match wins). The text
# itself holds hosts and addresses: it must never become a label value.
_REASONS: tuple[tuple[str, str], ...] = (
    ("blocked range", "blocked_address"),
    ("no vetted address", "blocked_address"),
    ("resolved to", "dns"),
    ("disabled", "disabled"),
    ("Scheme", "scheme"),
    ("credentials", "credentials_in_url"),
    ("Method", "method"),
    ("Header", "header"),
    ("redirect", "redirect"),
    ("URL", "bad_url"),
    ("Port", "bad_url"),
)


def refusal_reason(details: str) -> str:
    """The bounded reason word for a ``ProxyRefused`` text (``other`` when none matches)."""
    for needle, reason in _REASONS:
        if needle in details:
            return reason
    return "other"


class InstrumentedProxyService(ProxyService):
    """``ProxyService`` that reports ``proxy_request(outcome)`` and ``proxy_refused(reason)``.

    A subclass rather than a wrapper: handlers receive it typed as ``ProxyService``.
    """

    def __init__(
        self, http: OutboundHttp, resolver: Resolver, policy: ProxyPolicy, metrics: Metrics
    ) -> None:
        super().__init__(http=http, resolver=resolver, policy=policy)
        self._metrics = metrics

    async def forward(self, call: ProxyCall) -> ProxyResult:
        """``ProxyService.forward`` with its outcome counted; raises what it raises."""
        try:
            result = await super().forward(call)
        except ProxyRefused as exc:
            self._metrics.proxy_request("refused")
            self._metrics.proxy_refused(refusal_reason(exc.details))
            raise
        except ProxyTimeout:
            self._metrics.proxy_request("timeout")
            raise
        except ProxyFailed:
            self._metrics.proxy_request("failed")
            raise
        except BadInput:
            self._metrics.proxy_request("bad_input")
            raise
        self._metrics.proxy_request("ok")
        return result
