"""ExchangeConfig: the normalised, validated description of one exchange instance."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from app.domain.errors import BadInput, UnknownExchange

MarketType = Literal["spot", "futures"]
CcxtType = Literal["regular", "pro"]

MARKET_TYPES: tuple[str, ...] = ("spot", "futures")
CCXT_TYPES: tuple[str, ...] = ("regular", "pro")


def _one_of(field: str, allowed: tuple[str, ...]) -> str:
    return f"{field} must be one of " + ", ".join(f'"{option}"' for option in allowed)


CONFIG_FIELD_ERRORS: Mapping[str, str] = MappingProxyType(
    {
        "config": "config must be a JSON object",
        "exchangeId": "exchangeId must be a string",
        "marketType": _one_of("marketType", MARKET_TYPES),
        "ccxtType": _one_of("ccxtType", CCXT_TYPES),
        "sandbox": "sandbox must be a boolean",
        "apiKey": "apiKey must be a string",
        "secret": "secret must be a string",
        "password": "password must be a string",
    }
)
"""The text for a config field of the wrong type (or, for the choices, an unknown value), on
every transport: the domain raises it for raw Socket.IO payloads, the REST edge answers it for
a body its schema refuses (``app.entrypoints.http.exception_handlers``). The original server
fixes none of these texts."""


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """API credentials; never printed, never part of a key or a log line."""

    api_key: str | None = None
    secret: str | None = None
    password: str | None = None

    @property
    def present(self) -> bool:
        return bool(self.api_key or self.secret or self.password)

    def __repr__(self) -> str:  # keeps secrets out of tracebacks and debug output
        return f"Credentials(present={self.present})"


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """What the client asked for, with defaults filled in."""

    exchange_id: str
    market_type: MarketType = "spot"
    ccxt_type: CcxtType = "regular"
    sandbox: bool = False
    credentials: Credentials = Credentials()

    @property
    def has_credentials(self) -> bool:
        return self.credentials.present

    @property
    def markets_key(self) -> tuple[str, str, bool]:
        """Instances with the same markets_key can share one loaded market list."""
        return (self.exchange_id, self.market_type, self.sandbox)


ExchangeIdCheck = Callable[[str], bool]


def parse_exchange_config(raw: Any, *, is_known_exchange: ExchangeIdCheck) -> ExchangeConfig:
    """Validate a raw client-supplied config mapping (a Socket.IO payload's ``config``).

    Args:
        raw: the decoded JSON object from the client (anything; it is checked here).
        is_known_exchange: tells whether an exchange id is served by some backend.

    Raises:
        BadInput: with a message naming the offending field.
        UnknownExchange: when the id is well-formed but no backend serves it.
    """
    if not isinstance(raw, Mapping):
        raise BadInput(CONFIG_FIELD_ERRORS["config"])
    return exchange_config(
        exchange_id=raw.get("exchangeId"),
        market_type=raw.get("marketType"),
        ccxt_type=raw.get("ccxtType"),
        sandbox=raw.get("sandbox"),
        api_key=raw.get("apiKey"),
        secret=raw.get("secret"),
        password=raw.get("password"),
        is_known_exchange=is_known_exchange,
    )


def exchange_config(
    *,
    exchange_id: object,
    market_type: object = None,
    ccxt_type: object = None,
    sandbox: object = None,
    api_key: object = None,
    secret: object = None,
    password: object = None,
    is_known_exchange: ExchangeIdCheck,
) -> ExchangeConfig:
    """The one place the config rules live: required and known id, choices, defaults.

    Every edge calls it once: HTTP with the fields its schema already typed, Socket.IO (through
    ``parse_exchange_config``) with raw values. ``None`` or ``""`` means "not given".

    Raises:
        BadInput: with a message naming the offending field (never echoing a secret).
        UnknownExchange: when the id is well-formed but no backend serves it.
    """
    if exchange_id is None or exchange_id == "":
        raise BadInput("exchangeId is required")
    if not isinstance(exchange_id, str):
        raise BadInput(CONFIG_FIELD_ERRORS["exchangeId"])
    if not is_known_exchange(exchange_id):
        raise UnknownExchange(f"Unknown exchange id: {_printable(exchange_id)}")
    if sandbox is None:
        sandbox = False
    if not isinstance(sandbox, bool):
        raise BadInput(CONFIG_FIELD_ERRORS["sandbox"])
    return ExchangeConfig(
        exchange_id=exchange_id,
        market_type=_choice("marketType", market_type, MARKET_TYPES, "spot"),  # type: ignore[arg-type]
        ccxt_type=_choice("ccxtType", ccxt_type, CCXT_TYPES, "regular"),  # type: ignore[arg-type]
        sandbox=sandbox,
        credentials=Credentials(
            api_key=_optional_secret("apiKey", api_key),
            secret=_optional_secret("secret", secret),
            password=_optional_secret("password", password),
        ),
    )


def _choice(field: str, value: object, allowed: tuple[str, ...], default: str) -> str:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise BadInput(CONFIG_FIELD_ERRORS[field])
    return str(value)


def _optional_secret(field: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        # The value itself is never echoed: it may be a secret sent in the wrong field.
        raise BadInput(CONFIG_FIELD_ERRORS[field])
    return value


def _printable(value: str, limit: int = 64) -> str:
    """Echo an untrusted id back safely: bounded length, no control characters."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in value[:limit])
    return cleaned + ("..." if len(value) > limit else "")
