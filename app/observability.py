"""Logging setup (structlog, JSON by default) with secret redaction on every line.

Configured once by the composition root. Redaction works at two depths: fields whose *name*
says secret are masked, and every rendered string is scrubbed for secret-looking fragments
(query parameters, bearer tokens, JSON fields), because API keys also reach logs inside
exception texts and URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import re
import sys
import time
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any, TextIO

import msgspec
import structlog

from app.utc_text import IsoStamp

REDACTED = "[REDACTED]"

_SECRET_KEY_PARTS = (
    "apikey",
    "api_key",
    "secret",
    "password",
    "passphrase",
    "authorization",
    "token",
    "signature",
    "cookie",
    "privatekey",
    "private_key",
    "x-mbx-apikey",
)

_SECRET_NAMES = r"(?:api[_-]?key|secret|password|passphrase|token|signature|access[_-]?token|sign)"
_TEXT_PATTERNS = (
    # key=value in query strings and form bodies
    re.compile(rf"(?i)(\b{_SECRET_NAMES}=)[^&\s\"']+"),
    # "key": "value" in JSON and repr(dict)
    re.compile(rf"(?i)([\"']{_SECRET_NAMES}[\"']\s*:\s*[\"'])[^\"']*"),
    # Authorization headers
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(x-mbx-apikey[\"']?\s*[:=]\s*[\"']?)[^\"'\s,}]+"),
)


# The credentials of the request being served (per task, so never shared between requests):
# any text that carries them, whatever surrounds them, is scrubbed before it leaves.
_request_secrets: ContextVar[tuple[str, ...]] = ContextVar("request_secrets", default=())
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words

# The id of the request being served: every line logged while it runs carries it as
# ``request_id`` (``add_request_id``). Its own variable, not structlog's bind_contextvars:
# set and reset on every request, that costs a fraction (ADR 0180).
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def bind_request_id(request_id: str) -> Token[str | None]:
    """Mark ``request_id`` as the current request's; give the token to ``reset_request_id``."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    """Undo ``bind_request_id`` (the request is answered)."""
    _request_id.reset(token)


def add_request_id(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Processor: the current request's id as ``request_id``, after the bound fields (where
    ``merge_contextvars`` put it when the id was bound through structlog)."""
    request_id = _request_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def remember_secrets(*values: object) -> None:
    """Mark values (API keys, secrets, passwords) of the current request for scrubbing."""
    fresh = tuple(v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_LENGTH)
    if fresh:
        _request_secrets.set(_request_secrets.get() + fresh)


def scrub_known_secrets(text: str) -> str:
    for secret in _request_secrets.get():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


# Keys that name a credential without holding it: the operator-chosen name of a named token
# (``[[tokens]] name``) is what logs and metrics must show instead of the token itself.
_NAME_KEYS = frozenset({"tokenname", "tokennames"})


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    lowered = name.lower().replace("-", "").replace("_", "")
    if lowered in _NAME_KEYS:
        return False
    return any(part.replace("_", "").replace("-", "") in lowered for part in _SECRET_KEY_PARTS)


# Every pattern above needs one of these words; most lines have none and skip the regexes.
_TRIGGERS = re.compile("key|secret|password|passphrase|token|sign|bearer", re.IGNORECASE)


def _may_hold_secret(text: str) -> bool:
    """True when ``text`` has a word any ``_TEXT_PATTERNS`` entry needs (case-insensitive).

    ASCII text (nearly every line): lower() and seven substring tests, ~0.3 us on an 80-char
    string where the alternation regex takes ~3.4 us (it retries every branch at every
    position). Other text keeps the regex: its IGNORECASE folding (e.g. U+017F for "s") is
    what the patterns use, and lower() does not fold the same way.
    """
    if not text.isascii():
        return _TRIGGERS.search(text) is not None
    low = text.lower()
    return (
        "key" in low
        or "secret" in low
        or "password" in low
        or "passphrase" in low
        or "token" in low
        or "sign" in low
        or "bearer" in low
    )


def scrub_text(text: str) -> str:
    text = scrub_known_secrets(text)
    if not _may_hold_secret(text):
        return text
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def _redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            k: (
                REDACTED if isinstance(k, str) and is_secret_key(k) else _redact_value(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, depth + 1) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named fields, scrub every string (tracebacks too)."""
    for key, value in list(event_dict.items()):
        if is_secret_key(key):
            event_dict[key] = REDACTED
        elif type(value) is str:  # the common case, without _redact_value's dispatch
            event_dict[key] = scrub_text(value)
        elif not isinstance(value, _SCALARS):  # numbers and None carry no text to scrub
            event_dict[key] = _redact_value(value)
    return event_dict


_SCALARS = (int, float, type(None))


class _ScrubRendered:
    """Last line of defence: scrub the fully rendered line."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        return scrub_text(self._renderer(logger, method, event_dict))


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


KEEP_SECONDS = 0.01
"""How long a line made on the event loop may wait before it is written (s)."""
KEEP_LINES = 256
"""How many lines may wait: the next one writes them all (bounded memory and burst)."""


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler ``configure_logging`` installs; it also takes ready event dicts.

    ``write_event`` is the per-request fast path (``emit_info``): the same fields and the
    same redaction as a structlog line, without the stdlib ``LogRecord`` round trip (ADR
    0110) and, for the JSON format, without the processor chain (``_fast_json``, ADR 0120).
    """

    def __init__(self, stream: TextIO, chain: list[Any], renderer: Any, *, fast_json: bool) -> None:
        super().__init__(stream)
        self.chain = chain
        """The processor list structlog was configured with (identity: still our setup)."""
        self._processors = chain[1:-1]  # without filter_by_level and wrap_for_formatter
        self._renderer = renderer
        self._fast_json = fast_json
        self._pending: list[str | _PendingRequest] = []
        self._plain_texts: set[str] = set()
        """Request-line texts known to need no escaping and no scrubbing (``_request_line``)."""
        self._drain_scheduled = False

    @property
    def fast_json(self) -> bool:
        """True when lines are JSON (not the console format): ready-made lines may be written."""
        return self._fast_json

    def write_event(self, logger: logging.Logger, event_dict: dict[str, Any]) -> None:
        self.write_line(logger, self._event_line(logger, event_dict))

    def _event_line(self, logger: logging.Logger, event_dict: dict[str, Any]) -> str:
        line = _fast_json_line(logger, event_dict) if self._fast_json else None
        if line is None:
            ed: Any = event_dict
            for processor in self._processors:
                ed = processor(logger, "info", ed)
            # No final scrub_text here: every value went through redact_secrets above, and
            # the line has no traceback (the rendered-line scrub is for those, ADR 0005).
            line = self._renderer(logger, "info", ed)
        return str(line)

    def write_request(self, logger: logging.Logger, request: RequestLine) -> None:
        """The ``http_request`` line of ``request``, made when this loop turn's lines are
        written (ADR 0180): the request pays for keeping four references; the lines of a
        turn are made together, in order, in the request's own context (its bound fields
        and credentials, captured here), stamped with the time of this call."""
        pending = (logger, request, contextvars.copy_context(), time.time_ns())
        try:
            if _writes_each_call(self.stream) and self._defer(pending):
                return
            line = self._request_text(pending)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as StreamHandler.emit
            self.handleError(logging.makeLogRecord({"name": logger.name, "msg": "http_request"}))
            return
        self.write_line(logger, line)

    def _request_text(self, pending: _PendingRequest) -> str:
        """The line of a kept request: the template where it applies, else the generic road
        (``_event_line``, stamped when it runs), both in the request's context."""
        logger, request, context, stamp_ns = pending
        line = _request_line(logger.name, request, context, stamp_ns, self._plain_texts)
        if line is None:
            line = context.run(self._event_line, logger, _request_event(request))
        return line

    def write_line(self, logger: logging.Logger, line: str) -> None:
        """Write one rendered line (no terminator): batched per loop turn where it can be."""
        text = line + self.terminator
        try:
            if _writes_each_call(self.stream) and self._defer(text):
                return
            with self.lock:  # type: ignore[union-attr]
                self._write_pending()
                self.stream.write(text)
                if getattr(self.stream, "line_buffering", False) is not True:
                    self.stream.flush()  # a line-buffered stream flushed at the newline
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: a broken stream never fails the caller
            self.handleError(logging.makeLogRecord({"name": logger.name, "msg": line}))

    def _defer(self, text: str | _PendingRequest) -> bool:
        """On an event loop: keep the line; the kept lines are made and written in one
        ``write`` at most ``KEEP_SECONDS`` later, or at once when ``KEEP_LINES`` wait (ADR
        0122 wrote once per loop turn; ADR 0180 keeps them longer, as nginx's ``access_log
        ... buffer= flush=`` does: a syscall and a timer per 10 ms instead of per turn).
        Any other line (a warning, an error), ``flush()`` and ``close()`` write the kept
        ones first, so the order of lines stays the order they were made in."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(text)
            if len(self._pending) >= KEEP_LINES:
                self._write_pending()
                return True
            if self._drain_scheduled:
                return True
            self._drain_scheduled = True
        loop.call_later(KEEP_SECONDS, self._drain)
        return True

    def _drain(self) -> None:
        try:
            with self.lock:  # type: ignore[union-attr]
                self._write_pending()
        except Exception:  # noqa: BLE001 - as StreamHandler.emit
            self.handleError(logging.makeLogRecord({"name": "app.observability", "msg": "lines"}))

    def _write_pending(self) -> None:
        """Write the kept lines (the caller holds the lock)."""
        self._drain_scheduled = False
        if self._pending:
            kept = self._pending
            self._pending = []
            texts = [text if type(text) is str else self._kept_request_text(text) for text in kept]
            self.stream.write("".join(texts))

    def _kept_request_text(self, pending: Any) -> str:
        try:
            return self._request_text(pending) + self.terminator
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - one line that cannot be made loses only itself
            self.handleError(logging.makeLogRecord({"name": "app.http", "msg": "http_request"}))
            return ""

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock:  # type: ignore[union-attr]
            try:
                self._write_pending()
            except Exception:  # noqa: BLE001 - as StreamHandler.emit
                self.handleError(record)
            super().emit(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            # As StreamHandler.flush: a broken stream never fails the caller.
            with contextlib.suppress(Exception):
                self._write_pending()
            super().flush()


def _writes_each_call(stream: Any) -> bool:
    """True for stderr as Python sets it up: line-buffered on a terminal, write-through to a
    file or pipe; every line would cost its own ``write`` syscall (ADR 0122)."""
    return (
        getattr(stream, "write_through", False) is True
        or getattr(stream, "line_buffering", False) is True
    )


def json_dumps(obj: Any, **kw: Any) -> str:
    """The JSON renderer's serializer: compact, the same text shape as the fast line's."""
    return json.dumps(obj, separators=(",", ":"), **kw)


_LINE_ENCODER = msgspec.json.Encoder()
_PLAIN = frozenset({str, int, float, bool, type(None)})
_NEEDS_PROCESSORS = ("exc_info", "stack_info")  # format_exc_info / StackInfoRenderer work


_utc_stamp = IsoStamp(6, zero_fraction=False)  # TimeStamper's text, 0.3 us instead of 1.1


@functools.lru_cache(maxsize=256)
def _secret_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The keys of a line whose values ``redact_secrets`` masks (cached per key set)."""
    return tuple(k for k in keys if is_secret_key(k))


def _fast_json_line(logger: logging.Logger, ed: dict[str, Any]) -> str | None:
    """The JSON line the configured chain would write for ``ed`` at info, or None when only
    the chain can (a traceback, a value that is not a plain scalar or ASCII string).

    Same fields in the same order as ``merge_contextvars``, ``add_log_level``,
    ``add_logger_name``, ``TimeStamper`` and ``redact_secrets`` leave them, the same
    redaction: secret-named keys masked, every string scrubbed (one test over all strings
    first: nearly every request line has nothing to scrub).
    """
    for key in _NEEDS_PROCESSORS:
        if key in ed:
            return None
    for key, value in structlog.contextvars.get_contextvars().items():
        ed.setdefault(key, value)
    request_id = _request_id.get()
    if request_id is not None:
        ed.setdefault("request_id", request_id)
    ed["level"] = "info"
    ed["logger"] = logger.name
    ed["timestamp"] = _utc_stamp()
    texts = []
    for value in ed.values():
        kind = type(value)
        if kind is str:
            texts.append(value)
        elif kind not in _PLAIN:
            return None
    joined = "\x00".join(texts)
    if not joined.isascii():
        return None  # json.dumps escapes non-ASCII; the chain keeps the text identical
    known = _request_secrets.get()
    if _may_hold_secret(joined) or any(secret in joined for secret in known):
        for key, value in ed.items():
            if type(value) is str:
                ed[key] = scrub_text(value)
    for key in _secret_keys(tuple(ed)):
        ed[key] = REDACTED
    return _LINE_ENCODER.encode(ed).decode()


def emit_info(logger: logging.Logger, event: str, **fields: Any) -> None:
    """``structlog.get_logger(logger.name).info(event, **fields)``, cheaper on the hot path.

    Same line, same fields, same redaction, same level check. When logging is not set up as
    ``configure_logging`` left it (another structlog configuration, e.g. a test's
    ``capture_logs``; extra handlers or filters), it takes the ordinary road.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _sole_line_handler(logger)
    if handler is None:
        structlog.get_logger(logger.name).info(event, **fields)
        return
    fields["event"] = event
    handler.write_event(logger, fields)


RequestLine = tuple[str, str, int, float, "str | None"]
"""The fields of one ``http_request`` line, in the line's order: method, path, status,
duration_ms, token_name (a plain tuple: made on every request)."""

_REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "token_name")

_PendingRequest = tuple[logging.Logger, RequestLine, contextvars.Context, int]
"""A kept request line: its logger, fields, the request's context and its time (ns)."""


def _request_event(request: RequestLine) -> dict[str, Any]:
    """The fields as ``emit_info`` would get them: the fields, then ``event``."""
    return {**dict(zip(_REQUEST_FIELDS, request, strict=True)), "event": "http_request"}


def emit_request_line(
    logger: logging.Logger,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    token_name: str | None,
) -> None:
    """``emit_info(logger, "http_request", method=..., path=..., status=..., duration_ms=...,
    token_name=...)``: the same line, made from a template when it can be (ADR 0180).

    The line of every REST request: through ``emit_info`` it cost ~10 us of server CPU per
    request (``bench.rest --overhead``), most of it the generic field walk and encoder. The
    template applies only when the generic road would write exactly the same text: JSON
    lines, ``request_id`` the only bound context field, every string printable ASCII with
    nothing JSON escapes and nothing to redact or scrub, a plain duration. Anything else
    takes ``emit_info`` (a test compares both roads over awkward inputs).
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _sole_line_handler(logger)
    if handler is None or not handler.fast_json:
        emit_info(
            logger,
            "http_request",
            method=method,
            path=path,
            status=status,
            duration_ms=duration_ms,
            token_name=token_name,
        )
        return
    handler.write_request(logger, (method, path, status, duration_ms, token_name))


_STRUCTLOG_PREFIX = structlog.contextvars.STRUCTLOG_KEY_PREFIX

# Printable ASCII but '"' and '\\': the characters msgspec writes into a JSON string as they are.
_VERBATIM_JSON_TEXT = re.compile(r"[ !#-\[\]-~]*")


_PLAIN_TEXTS_KEPT = 1024
_HEX_DIGITS = "0123456789abcdef"  # every scrubber trigger word has a letter outside a-f


def _request_line(
    logger_name: str,
    request: RequestLine,
    context: contextvars.Context,
    stamp_ns: int,
    plain: set[str],
) -> str | None:
    """The ``http_request`` line ``_fast_json_line`` would make in ``context`` (the
    request's: its bound fields and credentials), stamped ``stamp_ns`` (ns since the epoch),
    or None when the template cannot promise the same text (see ``emit_request_line``).
    ``plain`` keeps method/path/logger/token texts already found verbatim and scrub-free
    (a remembered credential is still looked for on every line)."""
    method, path, status, duration_ms, token_name = request
    for var, value in context.items():  # as structlog's get_contextvars reads them
        if value is not Ellipsis and var.name.startswith(_STRUCTLOG_PREFIX):
            return None  # a field bound through structlog: the generic road places it
    request_id = context.get(_request_id)
    if type(request_id) is not str or type(status) is not int:
        return None
    # repr(float) and msgspec agree on plain decimals; exponents (<1e-4, >=1e16) differ.
    if type(duration_ms) is not float or not (duration_ms == 0.0 or 1e-3 <= duration_ms < 1e15):
        return None
    # One space between the texts: no word that would need scrubbing spans two of them.
    texts = f"{method} {path} {logger_name} {token_name}"
    if texts not in plain:  # the few routes a server answers: checked once each
        if not _VERBATIM_JSON_TEXT.fullmatch(texts) or _may_hold_secret(texts):
            return None
        if len(plain) >= _PLAIN_TEXTS_KEPT:  # paths are the client's choice: bounded
            plain.clear()
        plain.add(texts)
    # Hex digits (the ids we make) spell no scrubber word and need no escaping; anything
    # else is a client's X-Request-ID: checked.
    if request_id.strip(_HEX_DIGITS) and (
        not _VERBATIM_JSON_TEXT.fullmatch(request_id) or _may_hold_secret(request_id)
    ):
        return None
    known = context.get(_request_secrets, ())
    if known and any(secret in texts or secret in request_id for secret in known):
        return None
    token = "null" if token_name is None else f'"{token_name}"'
    return (
        f'{{"method":"{method}","path":"{path}","status":{status},'
        f'"duration_ms":{duration_ms!r},"token_name":{token},"event":"http_request",'
        f'"request_id":"{request_id}","level":"info","logger":"{logger_name}",'
        f'"timestamp":"{_utc_stamp.at(stamp_ns)}"}}'
    )


def _sole_line_handler(logger: logging.Logger) -> LineHandler | None:
    found: LineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None or not isinstance(handler, LineHandler) or handler.filters:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if found is None or structlog.get_config()["processors"] is not found.chain:
        return None
    return found


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging (uvicorn, asyncio) through one redacting renderer."""
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if use_console
        else structlog.processors.JSONRenderer(serializer=json_dumps, default=str)
    )
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    chain = [
        # First: a line below the level costs nothing more (no redaction, no rendering).
        structlog.stdlib.filter_by_level,
        *shared_processors(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]
    structlog.configure(
        processors=chain,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: loggers must follow a reconfiguration (tests, embedding applications).
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _ScrubRendered(renderer),
        ],
    )
    handler = LineHandler(stream, chain, renderer, fast_json=not use_console)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # We log one line per request ourselves; uvicorn's access line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("engineio.server", "socketio.server"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.WARNING))
