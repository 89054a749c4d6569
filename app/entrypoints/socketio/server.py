"""create_socketio_server: the python-socketio AsyncServer and its event handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import socketio
import structlog

from app.adapters.socketio.engine import BoundedSocketIOServer
from app.adapters.socketio.publisher import SocketIOPublisher
from app.domain.errors import DomainError
from app.domain.streams import Echo, StreamService, SubscriptionRejected, parse_subscription
from app.domain.streams.requests import parse_view, printable
from app.entrypoints.socketio.auth import SocketAccess, token_from
from app.observability import remember_secrets, scrub_text
from app.settings import Settings

log = structlog.get_logger(__name__)

NOT_AUTHENTICATED = "Not authenticated"
INVALID_TOKEN = "Invalid token"
MISSING_SUBSCRIPTION_ID = "Missing subscriptionId"
INVALID_NAMESPACE = "Invalid namespace"
"""The Node original's connect_error message for a namespace it does not serve."""
MAX_ID_LENGTH = 512
NO_DELTA_SUBSCRIPTION = 'No format "delta" subscription with this id'


@dataclass(slots=True)
class _Session:
    authenticated: bool = False
    timer: asyncio.TimerHandle | None = None


def create_socketio_server(
    streams: StreamService | Callable[[], StreamService],
    settings: Settings,
    is_known_exchange: Callable[[str], bool],
    *,
    publisher: SocketIOPublisher | None = None,
    access: SocketAccess | None = None,
    client_manager: socketio.AsyncManager | None = None,
) -> socketio.AsyncServer:
    """Build the Socket.IO server (mount it with ``socketio.ASGIApp(sio, other_asgi_app)``).

    Args:
        streams: the stream service every subscription goes through, or a zero-argument
            callable returning it (a container provider: resolved at the first event).
        settings: token, CORS origins and stream limits.
        is_known_exchange: tells whether an exchange id is served by some backend.
        publisher: the stream publisher, bound here to the new server (it learns about
            connections from the stream service, never from these handlers).
        access: the token checks and quotas (named tokens, ADR 0091); default: API_TOKEN only.
        client_manager: rooms and emits across a cluster's nodes (``RedisClientManager``,
            ADR 0150); None: python-socketio's in-process default.
    """
    origins = list(settings.cors_origins)
    sio = BoundedSocketIOServer(
        limits=settings.socketio,
        # late-bound: the handlers need the server, so they are created below
        is_authenticated=lambda sid: handlers.is_authenticated(sid),  # noqa: PLW0108
        bad_payload_events={"subscribe": "subscription_error"},
        bad_payload_fields={"subscription_error": _echo(None)},
        async_mode="asgi",
        cors_allowed_origins="*" if "*" in origins else origins,
        logger=False,
        engineio_logger=False,
        transports=["polling", "websocket"],
        namespaces="*",  # every namespace reaches `refuse_namespace`, which names the reason
        **({"client_manager": client_manager} if client_manager is not None else {}),
    )
    if publisher is not None:
        publisher.bind(sio)
    access = access or SocketAccess(settings.effective_token)
    handlers = _Handlers(sio, streams, settings, is_known_exchange, access)
    access.on_revoked(handlers.revoke)
    sio.on("connect", handlers.connect)
    sio.on("disconnect", handlers.disconnect)
    sio.on("authenticate", handlers.authenticate)
    sio.on("subscribe", handlers.subscribe)
    sio.on("unsubscribe", handlers.unsubscribe)
    sio.on("resync", handlers.resync)
    sio.on("connect", _refuse_namespace, namespace="*")
    return sio


async def _refuse_namespace(namespace: str, *_: Any) -> None:
    """Only "/" is served; the client's connect_error then says why, as the original's does."""
    raise socketio.exceptions.ConnectionRefusedError(INVALID_NAMESPACE)


class _Handlers:
    """Every handler takes ``*args``: a client can send no payload, or several."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        streams: StreamService | Callable[[], StreamService],
        settings: Settings,
        is_known_exchange: Callable[[str], bool],
        access: SocketAccess,
    ) -> None:
        self._sio = sio
        self._streams_source = streams
        self._access = access
        self._auth_timeout = settings.streams.auth_timeout_seconds
        self._sessions: dict[str, _Session] = {}
        """Authentication state only; subscriptions live in the stream service."""
        self._is_known_exchange = is_known_exchange

    @property
    def _streams(self) -> StreamService:
        source = self._streams_source
        return source if isinstance(source, StreamService) else source()

    async def connect(self, sid: str, environ: Any = None, auth: Any = None, *_: Any) -> None:
        session = self._sessions[sid] = _Session()
        handshake_token = token_from(auth)
        if handshake_token is not None:
            if not self._access.login(sid, handshake_token):
                del self._sessions[sid]
                raise socketio.exceptions.ConnectionRefusedError(INVALID_TOKEN)
            session.authenticated = True
            return
        loop = asyncio.get_running_loop()
        session.timer = loop.call_later(self._auth_timeout, self._auth_expired, sid)

    def is_authenticated(self, sid: str) -> bool:
        session = self._sessions.get(sid)
        return session is not None and session.authenticated

    def _auth_expired(self, sid: str) -> None:
        session = self._sessions.get(sid)
        if session is not None and not session.authenticated:
            log.info("socket_auth_timeout", sid=sid)
            asyncio.get_running_loop().create_task(self._sio.disconnect(sid))

    async def disconnect(self, sid: str, *_: Any) -> None:
        session = self._sessions.pop(sid, None)
        if session is not None and session.timer is not None:
            session.timer.cancel()
        self._access.logout(sid)
        self._streams.disconnect(sid)

    async def authenticate(self, sid: str, *args: Any) -> None:
        session = self._sessions.get(sid)
        if session is None:
            return
        if self._access.login(sid, token_from(args[0] if args else None)):
            session.authenticated = True
            if session.timer is not None:
                session.timer.cancel()
                session.timer = None
            await self._sio.emit("authenticated", {"success": True}, to=sid)
            return
        await self._sio.emit("auth_error", {"error": INVALID_TOKEN}, to=sid)
        await self._sio.disconnect(sid)

    async def revoke(self, sids: list[str]) -> None:
        """A reload revoked the token these connections authenticated with (ADR 0165).

        Their subscriptions are released at once (no update streams to them from here on),
        then each gets ``auth_error {error: "Invalid token"}`` and is disconnected: the
        documented answer to a token that is not accepted.
        """
        gone: list[str] = []
        for sid in sids:
            session = self._sessions.get(sid)
            if session is None:
                continue
            session.authenticated = False
            released = self._streams.disconnect(sid)
            log.info("socket_token_revoked", sid=sid, subscriptions=released)
            gone.append(sid)
        await asyncio.gather(*(self._end_revoked(sid) for sid in gone))

    async def _end_revoked(self, sid: str) -> None:
        try:
            await self._sio.emit("auth_error", {"error": INVALID_TOKEN}, to=sid)
        finally:
            await self._sio.disconnect(sid)

    async def subscribe(self, sid: str, *args: Any) -> None:
        payload = args[0] if args else None
        echo = _echo(payload)
        session = self._sessions.get(sid)
        if session is None or not session.authenticated:
            await self._refuse(sid, NOT_AUTHENTICATED, echo)
            return
        refusal = self._access.refusal(sid, self._streams.subscription_count)
        if refusal is not None:  # revoked since it authenticated, or the token's quota is full
            await self._refuse(sid, refusal, echo)
            return
        try:
            request = parse_subscription(payload, is_known_exchange=self._is_known_exchange)
            view = parse_view(payload, request.data_type)
        except SubscriptionRejected as exc:
            await self._refuse(sid, exc.details, echo)
            return
        # Per event task (and inherited by the stream's loop): logs and errors drop them.
        credentials = request.config.credentials
        remember_secrets(credentials.api_key, credentials.secret, credentials.password)
        as_sent = Echo(request.symbol, echo["timeframe"], view)
        try:
            subscription = await self._streams.subscribe(sid, request, as_sent)
        except DomainError as exc:
            await self._refuse(sid, scrub_text(exc.headline or exc.details), echo)
            return
        except Exception:
            log.exception("socket_subscribe_failed", sid=sid, data_type=request.data_type)
            await self._refuse(sid, "Subscription failed", echo)
            return
        answer: dict[str, Any] = {
            "subscriptionId": subscription.subscription_id,
            "exchangeId": subscription.exchange_id,
            "symbol": subscription.symbol,
            "dataType": subscription.data_type,
        }
        if subscription.timeframe:
            answer["timeframe"] = subscription.timeframe
        try:
            await self._sio.emit("subscribed", answer, to=sid)
        except BaseException:
            # The client was never told: keep no subscription (nor a held history) it cannot
            # know of or unsubscribe.
            self._streams.unsubscribe(sid, subscription.subscription_id)
            raise
        # After `subscribed` is queued: the latest update (cached) follows it at once.
        await self._streams.greet(sid, subscription.subscription_id)

    async def unsubscribe(self, sid: str, *args: Any) -> None:
        payload = args[0] if args else None
        subscription_id = payload.get("subscriptionId") if isinstance(payload, dict) else None
        if not isinstance(subscription_id, str) or not subscription_id:
            await self._sio.emit("unsubscribe_error", {"error": MISSING_SUBSCRIPTION_ID}, to=sid)
            return
        if len(subscription_id) > MAX_ID_LENGTH:
            subscription_id = subscription_id[:MAX_ID_LENGTH]
        # Only the caller's own subscriptions: the id (full, or without the "<sid>:" prefix
        # as the terminal sends it) is looked up under the caller's sid.
        self._streams.unsubscribe(sid, subscription_id)
        await self._sio.emit("unsubscribed", {"subscriptionId": subscription_id}, to=sid)

    async def resync(self, sid: str, *args: Any) -> None:
        """``resync {subscriptionId}`` (delta order books): the next event is a snapshot;
        an unknown or non-delta subscription gets ``resync_error {subscriptionId, error}``."""
        payload = args[0] if args else None
        subscription_id = payload.get("subscriptionId") if isinstance(payload, dict) else None
        if not isinstance(subscription_id, str) or not subscription_id:
            await self._sio.emit("resync_error", {"error": MISSING_SUBSCRIPTION_ID}, to=sid)
            return
        subscription_id = subscription_id[:MAX_ID_LENGTH]
        if not self._streams.resync(sid, subscription_id):
            await self._sio.emit(
                "resync_error",
                {"subscriptionId": subscription_id, "error": NO_DELTA_SUBSCRIPTION},
                to=sid,
            )

    async def _refuse(self, sid: str, error: str, echo: dict[str, str | None]) -> None:
        await self._sio.emit("subscription_error", {"error": error, **echo}, to=sid)


def _echo(payload: Any) -> dict[str, str | None]:
    """The request's identifying fields, echoed back in subscription_error (sanitised)."""
    fields: dict[str, str | None] = dict.fromkeys(("exchangeId", "symbol", "dataType", "timeframe"))
    if isinstance(payload, dict):
        for name in fields:
            value = payload.get(name)
            if isinstance(value, str) and value:
                fields[name] = printable(value, 100)
    return fields
