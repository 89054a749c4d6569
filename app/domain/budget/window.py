"""The limiter's arithmetic, without I/O: fixed weight windows per family, stops per exchange.

A state object per exchange: ``decide`` says grant, wait or refuse for a request of some
weight at a time; ``observe_used`` takes the exchange's own count (a used-weight header);
``stop`` records a 429/418 and its Retry-After. Adapters keep these objects and do the waiting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from app.domain.budget.rules import WINDOW_SECONDS, ExchangeRules, FamilyRule


@dataclass(frozen=True, slots=True)
class Decision:
    """``grant``: send now. Otherwise ``wait_s`` until room (or the stop) ends; ``stopped``
    says the exchange itself stopped us (429/418), which no queue may wait out."""

    grant: bool
    wait_s: float = 0.0
    stopped: bool = False


GRANT = Decision(grant=True)


@dataclass(slots=True)
class FamilyWindow:
    """Weight used by one family in the current fixed window (binance: the UTC minute)."""

    rule: FamilyRule
    reserve_fraction: float = 0.05
    window_s: float = WINDOW_SECONDS
    window_start: float = 0.0
    used: float = 0.0
    requests: int = 0
    refused: int = 0
    waited: int = 0
    observed_used: float | None = None
    limit_source: str = "rules"

    @property
    def ceiling(self) -> float:
        """Where we stop: the limit less the reserve kept for other users of the IP."""
        return self.rule.weight_per_minute * (1.0 - self.reserve_fraction)

    def roll(self, now: float) -> None:
        start = math.floor(now / self.window_s) * self.window_s
        if start > self.window_start:
            self.window_start = start
            self.used = 0.0
            self.observed_used = None

    def left(self, now: float) -> float:
        self.roll(now)
        return max(0.0, self.rule.weight_per_minute - self.used)

    def decide(self, weight: float, now: float) -> Decision:
        self.roll(now)
        # A request heavier than the whole ceiling still goes, alone, in an empty window.
        if self.used + weight <= self.ceiling or self.used == 0:
            self.used += weight
            self.requests += 1
            return GRANT
        return Decision(grant=False, wait_s=self.window_start + self.window_s - now)

    def observe_used(self, used: float, now: float) -> None:
        """The exchange's count for this window (it includes other processes on the IP)."""
        self.roll(now)
        self.observed_used = used
        self.used = max(self.used, used)


@dataclass(slots=True)
class ExchangeBudgetState:
    """Every family of one exchange plus the exchange-wide stop after a 429 or 418."""

    rules: ExchangeRules
    reserve_fraction: float = 0.05
    families: dict[str, FamilyWindow] = field(default_factory=dict)
    stopped_until: float = 0.0
    stopped_s_total: float = 0.0
    stops: dict[int, int] = field(default_factory=dict)

    def family(self, name: str) -> FamilyWindow:
        window = self.families.get(name)
        if window is None:
            rule = self.rules.families.get(name) or self.rules.families[self.rules.default_family]
            window = FamilyWindow(rule, reserve_fraction=self.reserve_fraction)
            window.limit_source = (
                "config" if name in self.rules.overridden else self.rules.limit_source
            )
            self.families[name] = window
        return window

    def decide(self, family: str, weight: float, now: float) -> Decision:
        if now < self.stopped_until:
            return Decision(grant=False, wait_s=self.stopped_until - now, stopped=True)
        return self.family(family).decide(weight, now)

    def stop(self, status: int, retry_after_s: float, now: float) -> None:
        """Stop every family until ``now + retry_after_s`` (a longer running stop stays)."""
        until = now + max(0.0, retry_after_s)
        if until > self.stopped_until:
            # Time stopped counts once even when stops overlap.
            self.stopped_s_total += until - max(now, self.stopped_until)
            self.stopped_until = until
        self.stops[status] = self.stops.get(status, 0) + 1

    def set_limit(self, family: str, weight_per_minute: float, source: str) -> None:
        """A published limit (exchangeInfo) replaces the built-in one, not the operator's."""
        window = self.family(family)
        if weight_per_minute > 0 and family not in self.rules.overridden:
            window.limit_source = source
            window.rule = replace(window.rule, weight_per_minute=weight_per_minute)
