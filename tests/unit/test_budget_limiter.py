"""The shared rate budget: binance rules as data, windows, waits, stops, published limits."""

from __future__ import annotations

import pytest

from app.domain.budget.rules import BINANCE_RULES, request_weight_per_minute


def test_binance_families_and_weights_follow_the_published_tables() -> None:
    rules = BINANCE_RULES
    assert rules.family_for("public").name == "api" and rules.family_for(["private"]).name == "api"
    assert rules.family_for("fapiPublicV2").name == "fapi"
    assert rules.family_for("dapiPrivate").name == "dapi"
    assert rules.family_for("sapiV3").name == "sapi"
    # ccxt prices spot at 0.2 x weight: ticker/24hr with a symbol 0.4 -> 2, depth 1000 -> 50
    assert rules.weight_of("public", 0.4) == pytest.approx(2)
    assert rules.weight_of("public", 10) == pytest.approx(50)
    assert rules.weight_of("fapiPublic", 20) == pytest.approx(20)
    assert [rules.families[f].weight_per_minute for f in ("api", "fapi", "dapi")] == [
        6000,
        2400,
        2400,
    ]


def test_rate_limits_from_exchange_info() -> None:
    published = [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    ]
    assert request_weight_per_minute(published) == 6000
    assert request_weight_per_minute([]) is None and request_weight_per_minute(None) is None
    per_second = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": 10}
    ]
    assert request_weight_per_minute(per_second) == 600


# The limiter's behaviour (windows, waits, stops, published limits) is the RateBudget
# contract, run against both adapters: tests/contract/test_rate_budget_contract.py.
