"""Puts the shared RateBudget in front of ccxt's own per-instance throttle.

ccxt 4.5.90 sends every REST request through ``Exchange.fetch2(path, api, method, params,
config)`` (it prices it with ``calculate_rate_limiter_cost`` and waits on the instance's token
bucket there), and hands every response to ``on_rest_response(code, reason, url, method,
headers, body, ...)`` before it raises for an error status. We wrap both on the instance:

- ``fetch2``: price the request in exchange weight, wait for room in the exchange's shared
  budget (or refuse at once while a 429/418 stop runs), then call ccxt's own ``fetch2``;
  exchangeInfo answers tell the published limit (binance ``rateLimits``).
- ``on_rest_response``: learn the used weight from the response header, and stop the whole
  exchange on 429/418 for its Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from app.adapters.ccxt.gateway import CcxtGateway
from app.domain.budget.rules import ExchangeRules, request_weight_per_minute, rules_for
from app.domain.config import ExchangeConfig
from app.ports.budget import RateBudget
from app.ports.exchange_gateway import ExchangeGateway
from app.settings import Settings

log = structlog.get_logger(__name__)

STOP_STATUSES = (418, 429)
DEFAULT_RETRY_AFTER_S = {429: 60.0, 418: 120.0}
"""When an exchange sends no Retry-After: binance's shortest ban is 2 minutes."""


class CcxtBudgetHook:
    """Installed on one ccxt instance; all instances of an exchange share one RateBudget."""

    def __init__(self, exchange: Any, budget: RateBudget, rules: ExchangeRules) -> None:
        self._exchange = exchange
        self._budget = budget
        self._rules = rules
        self._exchange_id = rules.exchange_id
        self._fetch2 = exchange.fetch2
        self._on_rest_response = exchange.on_rest_response
        self._url_families: list[tuple[str, str]] | None = None
        budget.configure(rules)

    def install(self) -> None:
        self._exchange.fetch2 = self.fetch2
        self._exchange.on_rest_response = self.on_rest_response

    async def fetch2(
        self,
        path: str,
        api: Any = "public",
        method: str = "GET",
        params: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> Any:
        params = {} if params is None else params
        config = {} if config is None else config
        family = self._rules.family_for(api).name
        cost = self._exchange.calculate_rate_limiter_cost(api, method, path, params, config)
        weight = self._rules.weight_of(api, _number(cost, 1.0))
        await self._budget.acquire(self._exchange_id, family, weight)
        response = await self._fetch2(path, api, method, params, config)
        if path == "exchangeInfo" and isinstance(response, dict):
            limit = request_weight_per_minute(response.get("rateLimits"))
            if limit is not None:
                self._budget.set_published_limit(self._exchange_id, family, limit)
        return response

    def on_rest_response(
        self,
        code: Any,
        reason: Any,
        url: str,
        method: Any,
        response_headers: Mapping[str, Any] | None,
        response_body: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        try:
            self._observe(code, url, response_headers or {})
        except Exception:  # learning must never break a request
            log.exception("budget_observe_failed", exchange=self._exchange_id)
        return self._on_rest_response(
            code,
            reason,
            url,
            method,
            response_headers,
            response_body,
            request_headers,
            request_body,
        )

    def _observe(self, code: Any, url: str, headers: Mapping[str, Any]) -> None:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else 0
        if status in STOP_STATUSES:
            retry_after = _number(lowered.get("retry-after"), DEFAULT_RETRY_AFTER_S[status])
            self._budget.stop(self._exchange_id, status, retry_after)
        rule = self._rules.families.get(self._family_of_url(url))
        if rule is not None and rule.used_weight_header:
            used = lowered.get(rule.used_weight_header)
            if used is not None:
                self._budget.observe_used(self._exchange_id, rule.name, _number(used, 0.0))

    def _family_of_url(self, url: str) -> str:
        if self._url_families is None:
            # Built on the first response: sandbox mode swaps the URL tree before that.
            pairs: list[tuple[str, str]] = []
            api = self._exchange.urls.get("api") if isinstance(self._exchange.urls, dict) else None
            for section, base in (api or {}).items():
                if isinstance(base, str):
                    pairs.append((base, self._rules.family_for(section).name))
            self._url_families = sorted(pairs, key=lambda p: len(p[0]), reverse=True)
        for base, family in self._url_families:
            if url.startswith(base):
                return family
        return self._rules.default_family


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class BudgetedGatewayFactory:
    """The instance cache's factory: builds a gateway, then puts the budget in front of it.

    Only ccxt gateways are hooked (other backends have no ccxt request path). With
    ``[budget] enabled = false`` gateways are returned untouched.
    """

    def __init__(
        self,
        create: Callable[[ExchangeConfig], ExchangeGateway],
        budget: RateBudget,
        settings: Settings,
    ) -> None:
        self._create = create
        self._budget = budget
        self._settings = settings

    def __call__(self, config: ExchangeConfig) -> ExchangeGateway:
        gateway = self._create(config)
        if self._settings.budget.enabled and isinstance(gateway, CcxtGateway):
            exchange = gateway.exchange
            operator = self._settings.exchanges.get(config.exchange_id)
            budget = operator.budget if operator is not None else None
            rules = rules_for(
                config.exchange_id,
                rate_limit_ms=_number(getattr(exchange, "rateLimit", 50), 50.0),
                weight_per_minute=budget.weight_per_minute if budget else None,
                family_weight_per_minute=budget.family_weight_per_minute if budget else None,
            )
            CcxtBudgetHook(exchange, self._budget, rules).install()
        return gateway
