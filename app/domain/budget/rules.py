"""An exchange's rate rules as data: API families, weight per minute, the used-weight header.

Binance is the first complete set (developers.binance.com "Limits", and ccxt 4.5.90's
``binance.describe()['api']`` cost tables); any other exchange gets one family whose budget is
ccxt's own per-instance model (``cost`` 1 per ``rateLimit`` ms), now shared by all instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

WINDOW_SECONDS = 60.0
"""Binance counts REQUEST_WEIGHT per UTC minute (``interval MINUTE, intervalNum 1``)."""


@dataclass(frozen=True, slots=True)
class FamilyRule:
    """One separately budgeted API family of an exchange (binance: ``api``, ``fapi``, ``dapi``).

    Attributes:
        name: the family's name (``api``); also its label in ``GET /api/budget``.
        weight_per_minute: the exchange's limit for this family (weight per 60 s window).
        weight_per_cost: exchange weight per unit of ccxt ``cost``. ccxt scales binance spot
            costs to 0.2 x weight ("Weight(IP): 20 => cost = 0.2 * 20 = 4"), so spot is 5;
            futures costs are the weights themselves, 1.
        used_weight_header: the response header that tells the weight used in the current
            window by this IP (lower case), if the exchange sends one.
    """

    name: str
    weight_per_minute: float
    weight_per_cost: float = 1.0
    used_weight_header: str | None = None


@dataclass(frozen=True, slots=True)
class ExchangeRules:
    """How one exchange's budget is split and counted.

    ``families_by_api`` maps a ccxt api section name (``public``, ``fapiPublic``...) or its
    prefix to a family name; the longest matching prefix wins, else ``default_family``.
    """

    exchange_id: str
    families: Mapping[str, FamilyRule]
    families_by_api: Mapping[str, str] = field(default_factory=dict)
    default_family: str = "default"
    limit_source: str = "rules"
    overridden: frozenset[str] = frozenset()
    """Families whose limit the operator set: a published limit does not replace them."""

    def family_for(self, api: object) -> FamilyRule:
        """The family of a ccxt api section (a name, or a list whose first item is the name)."""
        name = api[0] if isinstance(api, list | tuple) and api else api
        section = str(name) if name is not None else ""
        best = ""
        for prefix in self.families_by_api:
            if section.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        family = self.families_by_api[best] if best else self.default_family
        return self.families.get(family) or self.families[self.default_family]

    def weight_of(self, api: object, cost: float) -> float:
        """Exchange weight of one request that ccxt prices at ``cost``."""
        return max(0.0, float(cost)) * self.family_for(api).weight_per_cost

    def with_limits(self, limits: Mapping[str, float]) -> ExchangeRules:
        """A copy with some families' ``weight_per_minute`` replaced (operator overrides)."""
        families = dict(self.families)
        for name, limit in limits.items():
            if name in families and limit > 0:
                families[name] = replace(families[name], weight_per_minute=float(limit))
        return replace(self, families=families, overridden=self.overridden | set(limits))


_MBX = "x-mbx-used-weight-1m"

BINANCE_RULES = ExchangeRules(
    exchange_id="binance",
    families={
        # spot /api: REQUEST_WEIGHT 6,000/min; ccxt spot costs are 0.2 x weight
        "api": FamilyRule("api", 6000, weight_per_cost=5.0, used_weight_header=_MBX),
        # USD-M /fapi and COIN-M /dapi: 2,400/min each; ccxt costs are the weights
        "fapi": FamilyRule("fapi", 2400, weight_per_cost=1.0, used_weight_header=_MBX),
        "dapi": FamilyRule("dapi", 2400, weight_per_cost=1.0, used_weight_header=_MBX),
        # /sapi IP-limited endpoints: 12,000/min; ccxt sapi costs are 0.1 x weight
        "sapi": FamilyRule(
            "sapi", 12000, weight_per_cost=10.0, used_weight_header="x-sapi-used-ip-weight-1m"
        ),
        # options /eapi and portfolio margin /papi: their own budgets, counted separately
        "eapi": FamilyRule("eapi", 400, weight_per_cost=1.0, used_weight_header=_MBX),
        "papi": FamilyRule("papi", 6000, weight_per_cost=5.0, used_weight_header=_MBX),
    },
    families_by_api={
        "public": "api",
        "private": "api",
        "v1": "api",
        "fapi": "fapi",
        "dapi": "dapi",
        "sapi": "sapi",
        "eapi": "eapi",
        "papi": "papi",
    },
    default_family="api",
)

KNOWN_RULES: Mapping[str, ExchangeRules] = {"binance": BINANCE_RULES}
"""Exchanges whose published rules we model; the others get ``ccxt_model_rules``."""


def ccxt_model_rules(exchange_id: str, rate_limit_ms: float) -> ExchangeRules:
    """One family, ccxt's own throttle model: ``cost`` 1 per ``rateLimit`` ms, per minute."""
    per_minute = 60_000.0 / rate_limit_ms if rate_limit_ms > 0 else 1200.0
    return ExchangeRules(
        exchange_id=exchange_id,
        families={"default": FamilyRule("default", per_minute)},
        limit_source="ccxt rateLimit",
    )


def rules_for(
    exchange_id: str,
    *,
    rate_limit_ms: float,
    weight_per_minute: float | None = None,
    family_weight_per_minute: Mapping[str, float] | None = None,
) -> ExchangeRules:
    """The rules of an exchange, with the operator's ``[exchanges.<id>.budget]`` overrides.

    ``weight_per_minute`` overrides the main family (binance spot ``api``; the only family of
    other exchanges); ``family_weight_per_minute`` names families (``{"fapi": 1200}``).
    """
    rules = KNOWN_RULES.get(exchange_id) or ccxt_model_rules(exchange_id, rate_limit_ms)
    limits: dict[str, float] = dict(family_weight_per_minute or {})
    if weight_per_minute:
        limits[rules.default_family] = weight_per_minute
    if limits:
        rules = rules.with_limits(limits)
    return rules


def request_weight_per_minute(rate_limits: object) -> float | None:
    """REQUEST_WEIGHT per minute from binance exchangeInfo ``rateLimits``, if present.

    ``[{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
    "limit": 6000}, ...]`` -> 6000.0. Other intervals are scaled to one minute.
    """
    if not isinstance(rate_limits, list):
        return None
    seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
    for item in rate_limits:
        if not isinstance(item, dict) or item.get("rateLimitType") != "REQUEST_WEIGHT":
            continue
        interval = seconds.get(str(item.get("interval")))
        try:
            num = float(item.get("intervalNum") or 1)
            limit = float(item["limit"])
        except (KeyError, TypeError, ValueError):
            continue
        if interval and num > 0 and limit > 0:
            return limit * WINDOW_SECONDS / (interval * num)
    return None
