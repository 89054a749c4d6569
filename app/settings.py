"""All settings in one place: defaults, the optional TOML file, then environment variables.

Precedence (last wins): built-in defaults < TOML file < environment < command-line flags.
Nothing here is read at import time: ``load_settings`` is called by the CLI or by tests.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

DEFAULT_TOKEN = "your-secret-token"
"""The original server's default token; accepted only while listening on loopback."""


class CacheSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ttl_seconds: float = 24 * 3600
    sweep_interval_seconds: float = 600
    max_size: int = 1000
    failed_markets_ttl_seconds: float = 60
    """An instance whose load_markets failed is dropped this soon, so the next request retries."""


class CcxtSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    timeout_ms: int = 30_000
    enable_rate_limit: bool = True


class ExchangeBudgetSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[exchanges.<id>.budget]``: the operator's word on an exchange's rate limit."""

    weight_per_minute: float | None = None
    """Overrides the main family's limit (binance spot /api) and what exchangeInfo publishes."""
    family_weight_per_minute: dict[str, float] = msgspec.field(default_factory=dict)
    """Per API family (binance: api, fapi, dapi, sapi), e.g. ``{fapi = 1200}``."""


class BudgetSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[budget]``: coalesced and cached reads, and one rate limiter per exchange and IP."""

    enabled: bool = True
    """False: every read is its own exchange call and no shared limiter runs (the original)."""
    max_age_ms: dict[str, int] = msgspec.field(
        default_factory=lambda: {
            "ticker": 500,
            "orderbook": 250,
            "trades": 500,
            "ohlcv": 1000,
            "balance": 0,
            "capabilities": 0,
        }
    )
    """Per data type, the oldest answer (ms) reused for an identical read."""
    max_queue_wait_ms: int = 2000
    """The longest a request waits for room in the budget; beyond it, our 429 at once."""
    reserve_fraction: float = 0.05
    """Share of each exchange limit we never use (other clients of the IP, calls in flight)."""
    cache_max_entries: int = 10_000
    stream_reads: bool = True
    """Serve fetchTicker/fetchOrderBook from a live stream of the same data when fresh."""


class ExchangeSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Per-exchange operator settings, from ``[exchanges.<exchangeId>]``."""

    backend: str | None = None
    """Which backend serves this id (default: the backend that declares the id, else ccxt)."""
    ccxt: dict[str, Any] = msgspec.field(default_factory=dict)
    """Deep-merged into the constructor config of every ccxt instance of this exchange."""
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    """Free-form settings for non-ccxt backends (e.g. the simulator's seed and symbols)."""
    budget: ExchangeBudgetSettings = msgspec.field(default_factory=ExchangeBudgetSettings)


class StreamSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    auth_timeout_seconds: float = 10
    max_subscriptions_per_socket: int = 100
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    retry_factor: float = 2.0
    retry_jitter: float = 0.2
    """Fraction of each delay drawn at random (0.2: the delay varies by up to +-20 %)."""
    watchdog_seconds: dict[str, float] = msgspec.field(
        default_factory=lambda: {
            "ticker": 60.0,
            "orderbook": 60.0,
            "trades": 300.0,
            "ohlcv": 300.0,
            "balance": 0.0,  # balances change rarely: 0 turns the watchdog off
        }
    )
    rest_watch_timeout_seconds: float = 30.0
    gap_fill_max_pages: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    """REST requests at most to fetch an ohlcv stream's candles missed during an upstream
    restart (up to 1,000 rows each; ADR 0161)."""
    gap_fill_max_candles: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 10_000
    """Candles at most fetched for one such gap (10,000 x 1m: about a week)."""


class SocketIOSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Bounds of the Socket.IO transport: what one connection may make the server hold, and
    for how long (seconds, bytes, packets). Sources of the figures: ADR 0070.
    """

    ping_interval_seconds: float = 25.0
    """engine.io heartbeat period (Node's default, 25 s)."""
    ping_timeout_seconds: float = 20.0
    """A client silent this long after a ping is closed (Node: 20 s). A long-polling GET is
    held at most ping_interval + ping_timeout."""
    max_http_buffer_size: int = 1_000_000
    """Largest engine.io message, websocket frame or long-polling POST body, bytes (Node's
    maxHttpBufferSize, 1 MB). Larger: the connection closes (POST: 413)."""
    max_payload_packets: int = 1_000
    """Most packets in one long-polling POST (python-engineio: 16, Node: only the byte size).
    Beyond it: 400 and the session closes, so the client reconnects."""
    max_attachments: int = 10
    """Most binary attachments one packet may announce (Node's parser: 10)."""
    max_attachment_bytes: int = 1_000_000
    """Most bytes the attachments of one packet may add up to."""
    binary_before_auth: bool = False
    """Whether a connection may send binary packets before it authenticates (no event of
    this server takes binary input)."""
    max_events_before_auth: int = 256
    """Most packets a connection may send before it authenticates (its authenticate plus a
    burst of subscribes queued before the answer); beyond it the connection closes."""
    connect_timeout_seconds: float = 10.0
    """An engine.io session that has not joined a namespace this long after its handshake
    is closed (Node's connectTimeout: 45 s)."""
    max_unauthenticated_connections: int = 2_000
    """Most connections open at once that have not authenticated; further handshakes get
    401 until some authenticate, time out or leave."""
    max_queued_packets: int = 1_024
    """Most packets waiting in one connection's outgoing queue (replies and control
    packets; stream data has its own cap). A connection that does not read is closed."""


class ProxySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    allow: list[str] = msgspec.field(default_factory=list)
    """Hosts or CIDR ranges exempt from the private-address block."""
    max_response_bytes: int = 10 * 1024 * 1024
    min_timeout_ms: int = 100
    max_timeout_ms: int = 120_000
    max_redirects: int = 5
    allowed_methods: list[str] = msgspec.field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    )


TokenName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")]


class TokenSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One named token, from ``[[tokens]]`` (ADR 0091). The file holds its hash, never it."""

    name: TokenName
    """Shown in logs and metrics instead of the token."""
    sha256: Sha256Hex
    """Hex SHA-256 of the token (``printf %s "$TOKEN" | sha256sum``)."""
    requests_per_minute: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """REST requests allowed per minute (a burst of one minute's worth), None: no quota."""
    max_subscriptions: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """Socket.IO subscriptions open at once over all of the token's connections."""


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
"""The URL schemes redis-py's ``Redis.from_url`` accepts."""


class ClusterSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Several processes or machines as one gateway (issue 12, ADR 0135)."""

    redis_url: str | None = None
    """``redis://host:port/db`` (``rediss://`` for TLS). Set: this process joins the cluster
    named by that Redis database. None: a single process, nothing shared. The URL may carry
    a password: it is never logged or shown (pages, errors, metrics)."""
    key_secret: str | None = None
    """The secret the instance keys hash credentials with, the same on every node (ADR 0142).
    None: generated once in Redis (``pm:key-secret``) and read by every node. Never logged."""
    lease_ttl_seconds: Annotated[float, msgspec.Meta(ge=0.3, le=60)] = 3.0
    """A stream owner's lease; renewed every third of it. An owner that dies without a word
    is replaced within about this plus one third (ADR 0140)."""

    def __repr__(self) -> str:  # never show the URL (password) or the key secret
        return f"ClusterSettings(redis_url={'set' if self.redis_url else None})"

    def __post_init__(self) -> None:
        if self.key_secret is not None:
            self.key_secret = self.key_secret.strip() or None
        if self.redis_url is not None:
            self.redis_url = self.redis_url.strip() or None
        if self.redis_url is not None and not self.redis_url.startswith(REDIS_SCHEMES):
            # msgspec turns this into a ValidationError naming the field; the value itself is
            # not repeated (it may hold a password).
            raise ValueError(f"redis_url must start with one of {', '.join(REDIS_SCHEMES)}")


# A TCP port number; 0 asks the OS for a free one. Checked here so that a typo in PORT or
# --port is a one-line configuration error, not a traceback from bind().
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 3001
    socket_port: Port | None = None
    """A second port serving Socket.IO only (the terminal's client connects at port + 1).
    None: ``port + 1``; 0: no second port. Same process, auth, hub and subscriptions."""
    api_token: str | None = None
    log_level: str = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    cors_origins: list[str] = msgspec.field(default_factory=lambda: ["*"])
    docs_enabled: bool = True
    allowed_exchanges: list[str] | None = None
    """If set, only these exchange ids are served."""
    shutdown_grace_seconds: float = 10.0
    cache: CacheSettings = msgspec.field(default_factory=CacheSettings)
    ccxt: CcxtSettings = msgspec.field(default_factory=CcxtSettings)
    streams: StreamSettings = msgspec.field(default_factory=StreamSettings)
    proxy: ProxySettings = msgspec.field(default_factory=ProxySettings)
    budget: BudgetSettings = msgspec.field(default_factory=BudgetSettings)
    socketio: SocketIOSettings = msgspec.field(default_factory=SocketIOSettings)
    cluster: ClusterSettings = msgspec.field(default_factory=ClusterSettings)
    exchanges: dict[str, ExchangeSettings] = msgspec.field(default_factory=dict)
    disabled_plugins: list[str] = msgspec.field(default_factory=list)
    tokens: list[TokenSettings] = msgspec.field(default_factory=list)
    """Named tokens besides API_TOKEN; reloaded from the config file on SIGHUP."""
    metrics_public: bool = False
    """Serve GET /metrics without a token (for a scraper on a trusted network)."""
    metrics_port: Port | None = None
    """Also serve the metrics, without a token, on this port of ``host`` (0: any free port)."""
    config_file: str | None = None
    """Set by load_settings to the TOML file read (the file SIGHUP reloads); not a setting."""

    def __post_init__(self) -> None:
        # A token of only blanks is no token: unset, so the loopback-only default rule applies
        # (otherwise "   " would pass the off-loopback refusal and work as a password).
        if self.api_token is not None and not self.api_token.strip():
            self.api_token = None
        # Any case, as the logging module names them; a typo used to fall back to info silently.
        if not isinstance(logging.getLevelName(self.log_level.upper()), int):
            raise ValueError("log_level must be one of debug, info, warning, error, critical")

    @property
    def effective_socket_port(self) -> int | None:
        """The second Socket.IO port to open, or None (turned off, or no port + 1 exists)."""
        if self.socket_port is not None:
            return self.socket_port or None
        if self.port <= 0 or self.port >= 65535:
            return None  # an ephemeral HTTP port has no fixed neighbour
        return self.port + 1

    @property
    def effective_token(self) -> str:
        return self.api_token or DEFAULT_TOKEN

    @property
    def uses_default_token(self) -> bool:
        return not self.api_token


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which part and why."""


_ENV: dict[str, tuple[str, type]] = {
    "HOST": ("host", str),
    "PORT": ("port", int),
    "SOCKET_PORT": ("socket_port", int),
    "API_TOKEN": ("api_token", str),
    "LOG_LEVEL": ("log_level", str),
    "LOG_FORMAT": ("log_format", str),
    "CORS_ORIGINS": ("cors_origins", list),
    "DOCS_ENABLED": ("docs_enabled", bool),
    "ALLOWED_EXCHANGES": ("allowed_exchanges", list),
    "METRICS_PUBLIC": ("metrics_public", bool),
    "METRICS_PORT": ("metrics_port", int),
}


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from an optional TOML file, the environment and explicit overrides."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = config_path or env.get("PROFITMAKER_CONFIG")
    if path:
        data.update(_read_toml(Path(path)))
        data["config_file"] = str(path)
    for name, (field, kind) in _ENV.items():
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        data[field] = _coerce_env(name, raw, kind)
    # Nested settings with an environment name of their own.
    redis_url = env.get("REDIS_URL", "").strip()
    if redis_url:
        data["cluster"] = {**(data.get("cluster") or {}), "redis_url": redis_url}
    key_secret = env.get("CLUSTER_KEY_SECRET", "").strip()
    if key_secret:
        data["cluster"] = {**(data.get("cluster") or {}), "key_secret": key_secret}
    data.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        settings = msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None
    names = [token.name for token in settings.tokens]
    if len(set(names)) != len(names):
        raise SettingsError("invalid configuration: [[tokens]] names must be unique")
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def _coerce_env(name: str, raw: str, kind: type) -> Any:
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    if kind is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw
