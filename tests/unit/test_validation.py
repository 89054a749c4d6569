"""The shared request rules (app.domain.validation) every fetch, watch and subscribe path uses."""

from __future__ import annotations

import pytest

from app.domain.config import Credentials, ExchangeConfig
from app.domain.errors import (
    BadInput,
    BadSymbol,
    CredentialsRequired,
    NestingTooDeep,
    ReservedParam,
)
from app.domain.validation import (
    check_params,
    check_symbol_listed,
    check_timeframe_supported,
    optional_limit,
    optional_since,
    require_credentials,
    require_pro,
    require_symbol,
    timeframe_or_default,
)


@pytest.mark.parametrize(
    "key",
    [
        "symbol",
        "interval",
        "limit",
        "since",
        "startTime",
        "endTime",
        "instId",
        "inst_id",
        "instrument_name",
        "pair",
        "market",
        "granularity",
        "resolution",
        "period",
        "depth",
        "size",
        "product_id",
        "currency_pair",
        "bar",
        "until",
        "SYMBOL",
    ],
)
def test_params_that_set_what_the_request_sets_are_refused(key: str) -> None:
    with pytest.raises(ReservedParam, match=rf"params\.{key} is not allowed") as caught:
        check_params({key: "x"})
    assert isinstance(caught.value, BadInput)


@pytest.mark.parametrize(
    "params", [{"type": "spot"}, {"recvWindow": 5000}, {"price": "mark"}, {"category": "linear"}]
)
def test_exchange_specific_extras_pass_through_unchanged(params: dict[str, object]) -> None:
    assert check_params(params) == params


def test_balance_sets_no_market_argument_so_symbols_stays_an_extra() -> None:
    params = {"type": "margin", "symbols": ["BTC/USDT"]}
    assert check_params(params, sets=frozenset()) == params
    with pytest.raises(ReservedParam):
        check_params(params)


def test_params_must_be_an_object_of_bounded_depth() -> None:
    assert check_params(None) == {}
    with pytest.raises(BadInput, match="params must be a JSON object"):
        check_params([1])
    deep: object = {}
    for _ in range(100):
        deep = {"x": deep}
    with pytest.raises(NestingTooDeep):
        check_params(deep)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "symbol is required"),
        ("", "symbol is required"),
        (5, "symbol must be a string"),
        ("A" * 101, "not a valid market symbol"),
        ("BTC\n/USDT", "not a valid market symbol"),
    ],
)
def test_symbol_rules(value: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        require_symbol(value)


def test_symbol_limit_since_timeframe_accept_what_ccxt_takes() -> None:
    assert require_symbol("BTC/USDT:USDT") == "BTC/USDT:USDT"
    assert (optional_limit(None), optional_limit(5)) == (None, 5)
    assert (optional_since(None), optional_since(0)) == (None, 0)
    assert (timeframe_or_default(None), timeframe_or_default("1h")) == ("1m", "1h")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: optional_limit(0), "limit must be >= 1"),
        (lambda: optional_limit(True), "limit must be an integer"),
        (lambda: optional_since(-1), "since must be >= 0"),
        (lambda: optional_since("1"), "since must be an integer"),
        (lambda: timeframe_or_default("1 m"), "timeframe must be a string like 1m"),
        (lambda: timeframe_or_default(5), "timeframe must be a string like 1m"),
    ],
)
def test_number_and_timeframe_rules(call: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        call()  # type: ignore[operator]


def test_credentials_and_pro_rules_carry_the_contract_texts() -> None:
    bare = ExchangeConfig("binance")
    with pytest.raises(CredentialsRequired) as caught:
        require_credentials(bare, "API credentials required for balance")
    assert caught.value.headline == "API credentials required for balance"
    require_credentials(
        ExchangeConfig("binance", credentials=Credentials(api_key="k", secret="s")), "x"
    )
    with pytest.raises(BadInput) as refused:
        require_pro(bare)
    assert refused.value.headline == "WebSocket requires CCXT Pro"
    require_pro(ExchangeConfig("binance", ccxt_type="pro"))


def test_listed_symbols_and_supported_timeframes() -> None:
    check_symbol_listed("binance", "BTC/USDT", ["BTC/USDT:USDT"])  # futures settle form
    check_symbol_listed("binance", "ANY/THING", [])  # unknown list: not checked
    with pytest.raises(BadSymbol, match="binance does not have market symbol NOPE/X"):
        check_symbol_listed("binance", "NOPE/X", ["BTC/USDT"])
    check_timeframe_supported("binance", "1m", {"1m": "1m", "1h": "1h"})
    check_timeframe_supported("binance", "7m", {})
    with pytest.raises(
        BadInput, match=r"binance does not support timeframe 7m \(supported: 1m, 1h\)"
    ):
        check_timeframe_supported("binance", "7m", {"1m": "1m", "1h": "1h"})
