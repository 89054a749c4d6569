"""ExchangeConfig parsing: defaults, validation, and prototype-name rejection."""

from __future__ import annotations

import pytest

from app.domain.config import Credentials, ExchangeConfig, parse_exchange_config
from app.domain.errors import BadInput, UnknownExchange

KNOWN = {"binance", "kraken"}


def parse(raw: object) -> ExchangeConfig:
    return parse_exchange_config(raw, is_known_exchange=KNOWN.__contains__)


def test_defaults_are_filled_in() -> None:
    config = parse({"exchangeId": "binance"})
    assert (config.market_type, config.ccxt_type, config.sandbox) == ("spot", "regular", False)
    assert not config.has_credentials


def test_explicit_values_are_kept() -> None:
    config = parse(
        {
            "exchangeId": "kraken",
            "marketType": "futures",
            "ccxtType": "pro",
            "sandbox": True,
            "apiKey": "k",
            "secret": "s",
            "password": "p",
        }
    )
    assert (config.market_type, config.ccxt_type, config.sandbox) == ("futures", "pro", True)
    assert config.credentials == Credentials("k", "s", "p")


@pytest.mark.parametrize(
    "name", ["constructor", "__proto__", "toString", "hasOwnProperty", "BINANCE"]
)
def test_prototype_and_unknown_names_are_rejected(name: str) -> None:
    with pytest.raises(UnknownExchange, match="Unknown exchange id"):
        parse({"exchangeId": name})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "config must be a JSON object"),
        ([], "config must be a JSON object"),
        ({}, "exchangeId is required"),
        ({"exchangeId": ""}, "exchangeId is required"),
        ({"exchangeId": 7}, "exchangeId must be a string"),
        ({"exchangeId": "binance", "marketType": "margin"}, "marketType must be one of"),
        ({"exchangeId": "binance", "ccxtType": "ws"}, "ccxtType must be one of"),
        ({"exchangeId": "binance", "sandbox": "yes"}, "sandbox must be a boolean"),
        ({"exchangeId": "binance", "apiKey": 123}, "apiKey must be a string"),
    ],
)
def test_bad_configs_say_what_is_wrong(raw: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse(raw)


def test_credentials_never_appear_in_repr() -> None:
    config = parse({"exchangeId": "binance", "apiKey": "KEY-123456", "secret": "SECRET-987"})
    text = repr(config) + str(config)
    assert "KEY-123456" not in text and "SECRET-987" not in text


def test_a_long_unknown_id_is_echoed_bounded() -> None:
    with pytest.raises(UnknownExchange) as caught:
        parse({"exchangeId": "x" * 10_000})
    assert len(caught.value.details) < 120
