"""The one error hierarchy of the domain; entrypoints map it to status codes.

    DomainError
    ├── BadInput                 caller sent something we cannot use (400)
    │   ├── UnknownExchange      exchangeId is not a known exchange id
    │   ├── CredentialsRequired  the operation needs apiKey/secret
    │   ├── BadSymbol            the exchange does not know the symbol
    │   ├── NestingTooDeep       JSON nested deeper than the limit (app.domain.nesting)
    │   └── ReservedParam        a `params` key would override what the endpoint sets
    ├── NotSupported             the exchange cannot do this (501; 400 for watch* on regular)
    ├── AuthenticationFailed     the exchange refused the client's credentials (400)
    ├── RateLimited              the exchange throttled us (429)
    ├── ExchangeUnavailable      exchange down or in maintenance (503)
    │   ├── StreamEnded          the stream stopped before it delivered an update
    │   └── ServerShuttingDown   the server stops; a REST watch was still waiting
    ├── ExchangeUnreachable      network failure talking to the exchange (502)
    │   └── StreamInterrupted    the upstream stream failed; it retries (REST watch: 502)
    ├── ExchangeTimeout          the exchange did not answer in time (504)
    │   ├── StreamStalled        the silence watchdog restarted the stream
    │   └── WatchTimeout         a REST watch got no update within its timeout
    ├── ExchangeError            the exchange answered with an error we do not classify (502)
    ├── ProxyRefused             the CORS proxy refuses the target (400)
    ├── ProxyTimeout             the proxied request timed out (408)
    └── ProxyFailed              DNS, refused, reset, protocol, too many redirects (502)
        └── ProxyResponseTooLarge  the upstream body passed the size cap (502)

``error_type`` is what clients see in ``errorType``: the ccxt exception class name when the
error came from ccxt, otherwise the name of the domain class.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    Args:
        details: what went wrong, for the client's ``details`` (never a secret).
        error_type: the client's ``errorType``; default the class name.
        headline: a fixed ``error`` text of its own, replacing the endpoint's; default the
            class's ``HEADLINE`` (None: the endpoint's text).
    """

    HEADLINE: str | None = None

    def __init__(
        self, details: str, *, error_type: str | None = None, headline: str | None = None
    ) -> None:
        super().__init__(details)
        self.details = details
        self.error_type = error_type or type(self).__name__
        # A few failures have their own fixed `error` text in the contract ("API credentials
        # required for balance"); for all others the endpoint's text is used.
        self.headline = headline or self.HEADLINE


class BadInput(DomainError):
    """The request itself is wrong; retrying it unchanged cannot succeed."""


class UnknownExchange(BadInput):
    """The exchange id is not served by any backend."""


class CredentialsRequired(BadInput):
    """The operation needs credentials that were not given."""


class BadSymbol(BadInput):
    """The exchange does not list the symbol."""


class NestingTooDeep(BadInput):
    """A JSON text or value nests deeper than the limit (``app.domain.nesting``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON is nested deeper than {limit} levels")
        self.limit = limit


class ReservedParam(BadInput):
    """A ``params`` key sets what the endpoint itself sets (symbol, timeframe, limit, since)."""


class NotSupported(DomainError):
    """The exchange or backend does not offer the operation."""


class AuthenticationFailed(DomainError):
    """The exchange rejected the credentials or the signature."""


class RateLimited(DomainError):
    """The exchange throttled the request."""


class ExchangeUnavailable(DomainError):
    """The exchange is down or in maintenance."""


class ExchangeUnreachable(DomainError):
    """The exchange could not be reached over the network."""


class ExchangeTimeout(DomainError):
    """The exchange did not answer in time."""


class StreamEnded(ExchangeUnavailable):
    """The stream stopped (ended or was stopped) before it delivered the awaited update."""


class ServerShuttingDown(ExchangeUnavailable):
    """The server is stopping; pending stream reads end with this."""


class StreamInterrupted(ExchangeUnreachable):
    """The upstream stream failed with an error we do not classify; it retries."""


class StreamStalled(ExchangeTimeout):
    """The silence watchdog found no data for too long and restarted the stream."""


class WatchTimeout(ExchangeTimeout):
    """A REST watch got no update of its stream within its timeout."""


class ExchangeError(DomainError):
    """The exchange answered with an error we do not classify further."""


class ProxyRefused(BadInput):
    """The CORS proxy refuses to contact the target (scheme, address, method...)."""


class ProxyTimeout(DomainError):
    """The proxied request did not complete within its timeout."""

    HEADLINE = "Request timeout"


class ProxyFailed(DomainError):
    """The proxied upstream could not be reached or did not answer usefully."""


class ProxyResponseTooLarge(ProxyFailed):
    """The proxied upstream's body is larger than the configured cap."""


PERMANENT_ERRORS: tuple[type[DomainError], ...] = (BadInput, NotSupported, AuthenticationFailed)
"""Errors that retrying cannot heal: a stream answers them once instead of retrying."""
