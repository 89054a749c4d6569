"""InMemoryRateBudget: the RateBudget port for one process (every instance in it shares it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from app.domain.budget.model import BudgetExhausted
from app.domain.budget.rules import ExchangeRules, ccxt_model_rules
from app.domain.budget.window import ExchangeBudgetState
from app.ports.clock import Clock
from app.settings import BudgetSettings

log = structlog.get_logger(__name__)

RulesFactory = Callable[[str], ExchangeRules]


class InMemoryRateBudget:
    """Weight windows per exchange and family, stops after 429/418, bounded queue waits.

    Args:
        clock: wall clock (windows align to UTC minutes as binance's do).
        max_queue_wait_s: the longest a request waits for room; beyond it, BudgetExhausted.
        reserve_fraction: share of each limit never used (other users of the IP, requests
            already in flight); 0.05 stops at 95 %.
        rules_factory: rules for an exchange nobody configured (ccxt's model by default).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        max_queue_wait_s: float = 2.0,
        reserve_fraction: float = 0.05,
        rules_factory: RulesFactory | None = None,
    ) -> None:
        self._clock = clock
        self._max_queue_wait_s = max(0.0, max_queue_wait_s)
        self._reserve = min(max(reserve_fraction, 0.0), 0.9)
        self._rules_factory = rules_factory or (
            lambda exchange_id: ccxt_model_rules(exchange_id, 50)
        )
        self._states: dict[str, ExchangeBudgetState] = {}

    @classmethod
    def from_settings(cls, clock: Clock, settings: BudgetSettings) -> InMemoryRateBudget:
        """Built from ``[budget]``: ``max_queue_wait_ms``, ``reserve_fraction``."""
        return cls(
            clock,
            max_queue_wait_s=settings.max_queue_wait_ms / 1000.0,
            reserve_fraction=settings.reserve_fraction,
        )

    def configure(self, rules: ExchangeRules) -> None:
        if rules.exchange_id not in self._states:
            self._states[rules.exchange_id] = ExchangeBudgetState(
                rules, reserve_fraction=self._reserve
            )

    def _state(self, exchange_id: str) -> ExchangeBudgetState:
        state = self._states.get(exchange_id)
        if state is None:
            self.configure(self._rules_factory(exchange_id))
            state = self._states[exchange_id]
        return state

    async def acquire(self, exchange_id: str, family: str, weight: float) -> None:
        state = self._state(exchange_id)
        deadline = self._clock.time() + self._max_queue_wait_s
        waited = False
        while True:
            now = self._clock.time()
            decision = state.decide(family, weight, now)
            if decision.grant:
                if waited:
                    state.family(family).waited += 1
                return
            if decision.stopped or now + decision.wait_s > deadline:
                window = state.family(family)
                window.refused += 1
                if decision.stopped:
                    details = (
                        f"{exchange_id} answered 429/418: every request to it is held back "
                        f"until its Retry-After has passed"
                    )
                else:
                    details = (
                        f"{exchange_id} {family} request weight budget is used up "
                        f"({window.used:.0f} of {window.rule.weight_per_minute:.0f} per minute)"
                    )
                raise BudgetExhausted(details, retry_after_s=decision.wait_s)
            waited = True
            # A small step past the window edge: the next decide sees the new window.
            await self._clock.sleep(decision.wait_s + 0.001)

    def set_published_limit(self, exchange_id: str, family: str, weight_per_minute: float) -> None:
        self._state(exchange_id).set_limit(family, weight_per_minute, "exchangeInfo")

    def observe_used(self, exchange_id: str, family: str, used: float) -> None:
        self._state(exchange_id).family(family).observe_used(used, self._clock.time())

    def stop(self, exchange_id: str, status: int, retry_after_s: float) -> None:
        state = self._state(exchange_id)
        state.stop(status, retry_after_s, self._clock.time())
        log.warning(
            "exchange_rate_stop", exchange=exchange_id, status=status, retry_after_s=retry_after_s
        )

    async def refresh(self) -> None:
        """Nothing to bring up to date: every figure of this adapter is in this process."""
        return

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return snapshot_of(self._states, self._clock.time())

    def states(self) -> Mapping[str, ExchangeBudgetState]:
        """Every exchange configured so far, by id (a shared adapter's copy reads them)."""
        return self._states

    def state(self, exchange_id: str) -> ExchangeBudgetState:
        """The exchange's state (configured from the rules factory if nobody did)."""
        return self._state(exchange_id)


def snapshot_of(states: Mapping[str, ExchangeBudgetState], now: float) -> dict[str, dict[str, Any]]:
    """The ``RateBudget.snapshot()`` shape of some exchange states at ``now`` (s)."""
    out: dict[str, dict[str, Any]] = {}
    for exchange_id, state in states.items():
        families: dict[str, Any] = {}
        for name, window in state.families.items():
            window.roll(now)
            families[name] = {
                "weightPerMinute": window.rule.weight_per_minute,
                "limitSource": window.limit_source,
                "weightUsed": window.used,
                "weightLeft": max(0.0, window.rule.weight_per_minute - window.used),
                "exchangeReportedUsed": window.observed_used,
                "requests": window.requests,
                "waited": window.waited,
                "refused": window.refused,
            }
        stopped_for = max(0.0, state.stopped_until - now)
        out[exchange_id] = {
            "stoppedForSeconds": round(stopped_for, 3),
            "stoppedSecondsTotal": round(state.stopped_s_total, 3),
            "stops": {str(status): n for status, n in sorted(state.stops.items())},
            "families": families,
        }
    return out
