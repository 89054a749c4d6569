"""emit_info (the request log's fast path) writes the line structlog would, or takes its road."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from app.observability import REDACTED, configure_logging, emit_info, remember_secrets

FIELDS = {
    "method": "POST",
    "path": "/api/exchange/fetchTicker",
    "status": 200,
    "duration_ms": 0.512,
}


@pytest.fixture
def configured() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    yield stream, logging.getLogger("app.http")
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_fast_line_equals_the_structlog_line(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging("info", fmt, stream=stream)
    try:
        std = logging.getLogger("app.http")
        with structlog.contextvars.bound_contextvars(request_id="abc123"):
            structlog.get_logger("app.http").info("http_request", **FIELDS)
            emit_info(std, "http_request", **FIELDS)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    slow, fast = _lines(stream)
    if fmt == "json":
        slow_d, fast_d = json.loads(slow), json.loads(fast)
        assert list(slow_d) == list(fast_d)  # same fields in the same order
        slow_d.pop("timestamp")
        fast_d.pop("timestamp")
        assert fast_d == slow_d
        assert fast_d["request_id"] == "abc123" and fast_d["logger"] == "app.http"
    else:  # the console line starts with the timestamp
        assert fast.split(" ", 1)[1] == slow.split(" ", 1)[1]
        assert "http_request" in fast and "request_id=abc123" in fast


def test_fast_line_is_redacted(configured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, std = configured

    def request() -> None:  # in its own context, as a request task: the secret stays there
        remember_secrets("my-exchange-secret-42")
        emit_info(
            std,
            "http_request",
            path="/x/my-exchange-secret-42",
            token="tok-value",
            query="apiKey=abcdef123",
        )

    contextvars.copy_context().run(request)
    line = json.loads(_lines(stream)[0])
    assert line["path"] == f"/x/{REDACTED}"
    assert line["token"] == REDACTED
    assert line["query"] == f"apiKey={REDACTED}"


def test_below_the_level_nothing_is_written(configured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, std = configured
    emit_info(std, "http_request", **FIELDS)  # positive control: written at info
    std.setLevel(logging.WARNING)
    try:
        emit_info(std, "http_request", **FIELDS)
    finally:
        std.setLevel(logging.NOTSET)
    assert len(_lines(stream)) == 1


def test_other_structlog_setup_gets_the_ordinary_call(
    configured: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, std = configured
    with capture_logs() as captured:
        emit_info(std, "http_request", **FIELDS)
    assert captured == [{"event": "http_request", "log_level": "info", **FIELDS}]
    assert _lines(stream) == []


def test_an_extra_handler_gets_the_line_too(
    configured: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, std = configured
    extra = io.StringIO()
    handler = logging.StreamHandler(extra)
    std.addHandler(handler)
    try:
        emit_info(std, "http_request", **FIELDS)
    finally:
        std.removeHandler(handler)
    assert len(_lines(stream)) == 1
    assert "http_request" in extra.getvalue()


def test_a_broken_stream_does_not_fail_the_request(
    configured: tuple[io.StringIO, logging.Logger],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream, std = configured
    emit_info(std, "http_request", **FIELDS)  # positive control: the stream works
    assert len(_lines(stream)) == 1
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as in production: no stderr dump
    stream.close()
    emit_info(std, "http_request", **FIELDS)  # ValueError inside, reported by handleError


def test_rendered_line_shows_the_token_name_and_redacts_a_token_value(
    configured: tuple[io.StringIO, logging.Logger],
) -> None:
    """The request line names the named token (operators read it), while a field that holds a
    token is still redacted in the same rendered line (the positive control for the redactor)."""
    stream, std = configured
    emit_info(std, "http_request", token_name="desk-a", token="tok-value-123")
    line = json.loads(_lines(stream)[0])
    assert line["token_name"] == "desk-a"
    assert line["token"] == REDACTED


def _both_lines(fields: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """The structlog chain's line and the fast line for the same fields, timestamps dropped."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        std = logging.getLogger("app.http")
        with structlog.contextvars.bound_contextvars(request_id="rid-1"):
            structlog.get_logger("app.http").info("http_request", **fields)
            emit_info(std, "http_request", **fields)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    slow, fast = (json.loads(line) for line in _lines(stream))
    assert list(slow) == list(fast)
    slow.pop("timestamp")
    fast.pop("timestamp")
    return slow, fast


@pytest.mark.parametrize(
    "fields",
    [
        {"path": "/caf\u00e9/x", "status": 404},  # non-ASCII: the chain renders it
        {"path": "/x", "nested": {"apiKey": "k-123456", "ok": [1, "two"]}},  # not a scalar
        {"path": "/x?token=abcdef", "detail": "Bearer abc.def", "secret": "s-1"},  # scrubbed
        {"path": "/x", "flag": True, "none": None, "ratio": 0.25},
    ],
)
def test_fast_line_matches_the_chain_on_unusual_fields(fields: dict[str, object]) -> None:
    slow, fast = _both_lines(fields)
    assert fast == slow
    assert fast["request_id"] == "rid-1"
    assert "abcdef" not in json.dumps(fast) and "k-123456" not in json.dumps(fast)


def test_fast_line_scrubs_a_secret_written_with_a_look_alike_letter(
    configured: tuple[io.StringIO, logging.Logger],
) -> None:
    """U+017F (long s) folds to "s" in the patterns' IGNORECASE matching, not in lower()."""
    stream, std = configured
    emit_info(std, "http_request", path="/x", detail="\u017fecret=hidden-value")
    emit_info(std, "http_request", path="/x", detail="secret=hidden-value")  # positive control
    first, second = (json.loads(line) for line in _lines(stream))
    assert second["detail"] == f"secret={REDACTED}"
    assert "hidden-value" not in first["detail"]


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (1_796_083_810_123_456_789, "2026-12-01T00:10:10.123456Z"),
        (1_796_083_810_000_000_999, "2026-12-01T00:10:10Z"),  # isoformat drops a zero fraction
    ],
)
def test_timestamp_is_the_structlog_iso_utc_text(
    nanos: int, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from app import utc_text

    monkeypatch.setattr(utc_text.time, "time_ns", lambda: nanos)
    stamp = utc_text.IsoStamp(6, zero_fraction=False)
    assert stamp() == text
    reference = datetime.fromtimestamp(nanos // 1000 / 1e6, UTC).isoformat()
    assert reference.replace("+00:00", "Z") == text


class _CountingBytes(io.BytesIO):
    writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)


@contextlib.contextmanager
def _counting_stderr(**kind: bool) -> Iterator[_CountingBytes]:
    """Logging configured onto a stream like stderr (``line_buffering`` or
    ``write_through``), its raw ``write`` calls counted; reset afterwards."""
    raw = _CountingBytes()
    configure_logging("info", "json", stream=io.TextIOWrapper(raw, encoding="utf-8", **kind))
    try:
        yield raw
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


async def test_on_a_loop_kept_lines_are_written_together_later_and_in_order() -> None:
    """stderr-like stream (line-buffered or write-through): lines made on the loop are kept
    past the loop turn and go out in one write at most KEEP_SECONDS later; an ordinary line
    in between writes the kept ones first."""
    import asyncio

    from app.testing.waiting import eventually

    with _counting_stderr(line_buffering=True) as raw:
        std = logging.getLogger("app.http")
        emit_info(std, "http_request", path="/a")
        emit_info(std, "http_request", path="/b")
        assert raw.writes == 0  # kept
        await asyncio.sleep(0)
        assert raw.writes == 0  # still kept after the loop turn
        await eventually(lambda: raw.writes or None, timeout=5)  # by the timer alone
        assert raw.writes == 1  # both in one write
        emit_info(std, "http_request", path="/c")
        structlog.get_logger("app.other").warning("in_between")  # writes /c first
        emit_info(std, "http_request", path="/d")
        logging.getLogger().handlers[0].flush()  # flush (shutdown) writes what is kept
        order = [json.loads(x).get("path", "w") for x in raw.getvalue().decode().splitlines()]
        assert order == ["/a", "/b", "/c", "w", "/d"]


def test_off_a_loop_each_line_is_written_at_once() -> None:
    with _counting_stderr(line_buffering=True) as raw:
        emit_info(logging.getLogger("app.http"), "http_request", path="/a")
        assert raw.writes == 1 and b'"path":"/a"' in raw.getvalue()


async def test_a_write_through_stream_is_batched_too() -> None:
    """stderr redirected to a file or pipe is write-through, not line-buffered."""
    from app.testing.waiting import eventually

    with _counting_stderr(write_through=True) as raw:
        for path in ("/a", "/b", "/c"):
            emit_info(logging.getLogger("app.http"), "http_request", path=path)
        await eventually(lambda: raw.writes or None, timeout=5)
        assert raw.writes == 1 and raw.getvalue().count(b"http_request") == 3


async def test_kept_lines_are_bounded_the_one_past_the_bound_writes_them() -> None:
    from app.observability import KEEP_LINES

    with _counting_stderr(write_through=True) as raw:
        for n in range(KEEP_LINES - 1):
            emit_info(logging.getLogger("app.http"), "http_request", path=f"/{n}")
        assert raw.writes == 0  # positive control: kept below the bound
        emit_info(logging.getLogger("app.http"), "http_request", path="/last")
        assert raw.writes == 1
        assert raw.getvalue().count(b"http_request") == KEEP_LINES


# -- emit_request_line: the template road of the http_request line (ADR 0180) -------------

STAMP = "2026-12-01T03:00:00.123456Z"

AWKWARD_REQUESTS = [
    ("GET", '/a"quote', 200, 0.5, None),  # JSON escapes '"'
    ("GET", "/back\\slash", 200, 0.5, None),
    ("GET", "/caf\u00e9", 404, 0.5, None),  # non-ASCII
    ("GET", "/tab\there", 404, 0.5, None),  # a control character
    ("GET", "/del\x7f", 404, 0.5, None),
    ("GET", "/api/key/abc", 404, 0.5, None),  # a word the scrubber looks at
    ("GET", "/x", 200, 0.5, "token-desk"),
    ("POST", "/x/secret=abc123", 400, 0.5, "desk"),
    ("GET", "/x", 200, 1e-05, None),  # repr writes an exponent
    ("GET", "/x", 200, 1e16, None),
    ("GET", "/x", 200, 3, None),  # an int duration
    ("GET", "/x", 200, 0.5, 'desk"a'),
]
PLAIN_REQUESTS = [
    ("GET", "/health", 200, 0.0, None),
    ("GET", "/health", 200, 0.001, None),
    ("HEAD", "/health", 200, 0.123, "desk-a"),
    ("POST", "/api/exchange/fetchTicker", 429, 12345.678, "desk.b_2"),
    ("GET", "/api/streams/{x}!~*()'<>&", 404, 99.999, None),
]


@contextlib.contextmanager
def _request_id_bound(request_id: str) -> Iterator[None]:
    """As RequestLogMiddleware marks the request it serves."""
    from app.observability import bind_request_id, reset_request_id

    token = bind_request_id(request_id)
    try:
        yield
    finally:
        reset_request_id(token)


def _request_lines(
    requests: list[tuple[str, str, int, float, str | None]],
    **bound: object,
) -> tuple[list[str], list[str]]:
    """Each request written by emit_info and by emit_request_line, one fixed timestamp."""
    from app import observability

    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        std = logging.getLogger("app.http")
        with (
            _request_id_bound(str(bound.pop("request_id", "0af3c9d2e1b4"))),
            structlog.contextvars.bound_contextvars(**bound),
        ):
            for method, path, status, duration_ms, token_name in requests:
                emit_info(
                    std,
                    "http_request",
                    method=method,
                    path=path,
                    status=status,
                    duration_ms=duration_ms,
                    token_name=token_name,
                )
                observability.emit_request_line(std, method, path, status, duration_ms, token_name)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    # Each road stamps the time it ran at: compare the rest of the line.
    lines = [re.sub(r'"timestamp":"[^"]*"', f'"timestamp":"{STAMP}"', x) for x in _lines(stream)]
    assert all(f'"timestamp":"{STAMP}"' in line for line in lines)
    return lines[0::2], lines[1::2]


def test_the_template_line_is_the_generic_line_byte_for_byte() -> None:
    generic, template = _request_lines(PLAIN_REQUESTS + AWKWARD_REQUESTS)
    assert template == generic
    assert len(generic) == len(PLAIN_REQUESTS + AWKWARD_REQUESTS)


def test_the_template_applies_to_plain_requests_only() -> None:
    from app.observability import _request_line

    def line(request: tuple[str, str, int, float, str | None]) -> str | None:
        return _request_line(
            "app.http", request, contextvars.copy_context(), 1_796_083_810_123_456_789, set()
        )

    with _request_id_bound("0af3c9d2e1b4"):
        made = [line(request) for request in PLAIN_REQUESTS]
        refused = [line(request) for request in AWKWARD_REQUESTS]
        with structlog.contextvars.bound_contextvars(user="u1"):  # another bound field
            extra = line(PLAIN_REQUESTS[0])
    assert all(line is not None for line in made)
    assert refused == [None] * len(AWKWARD_REQUESTS)
    assert extra is None


def test_with_another_bound_field_the_generic_road_writes_it() -> None:
    generic, template = _request_lines(PLAIN_REQUESTS[:1], user="u1")
    assert template == generic
    assert json.loads(template[0])["user"] == "u1"


def test_a_remembered_secret_in_the_path_is_scrubbed_on_the_template_road() -> None:
    lines: list[str] = []

    def request() -> None:  # the request task's own context holds its credentials
        remember_secrets("Zq7RvX2mPw")
        lines.extend(
            _request_lines(
                [("GET", "/x/Zq7RvX2mPw", 200, 0.5, None), ("GET", "/x/plain", 200, 0.5, None)]
            )[1]
        )

    contextvars.copy_context().run(request)
    assert json.loads(lines[0])["path"] == f"/x/{REDACTED}"
    assert json.loads(lines[1])["path"] == "/x/plain"  # positive control


def test_on_a_loop_kept_request_lines_are_made_later_in_order_with_their_context() -> None:
    """stderr as Python sets it up (line-buffered): request lines are kept and made when
    they are written, each with what its request had bound and remembered, even though the
    request reset them before; a line logged in between keeps its place."""
    from app.observability import emit_request_line
    from app.testing.waiting import eventually

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", line_buffering=True)
    configure_logging("info", "json", stream=stream)
    std = logging.getLogger("app.http")

    def request(request_id: str, path: str) -> None:
        remember_secrets("Zq7RvX2mPw")
        with _request_id_bound(request_id):
            emit_request_line(std, "GET", path, 200, 0.25, None)

    async def turn() -> bytes:
        contextvars.copy_context().run(request, "r-1", "/one")
        structlog.get_logger("app.other").warning("between")  # writes the kept line first
        contextvars.copy_context().run(request, "r-2", "/x/Zq7RvX2mPw")
        contextvars.copy_context().run(request, "r-3", "/caf\u00e9")  # the generic road
        kept = raw.getvalue()
        await eventually(lambda: raw.getvalue().count(b"http_request") == 3 or None, timeout=5)
        return kept

    try:
        kept = asyncio.run(turn())
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in raw.getvalue().decode().splitlines()]
    assert [line["event"] for line in lines] == [
        "http_request",
        "between",
        "http_request",
        "http_request",
    ]
    assert kept.decode().count("http_request") == 1  # r-2 and r-3 waited for the turn's end
    assert [line.get("request_id") for line in lines] == ["r-1", None, "r-2", "r-3"]
    assert lines[2]["path"] == f"/x/{REDACTED}"
    assert lines[3]["path"] == "/caf\u00e9"


def test_a_path_seen_plain_before_is_still_scrubbed_for_a_request_that_holds_its_secret() -> None:
    """The template remembers texts it found plain; a request's own credentials are looked
    for on every line, the remembered ones too."""
    path = "/x/Zq7RvX2mPw"
    first: list[str] = []
    second: list[str] = []

    def request(out: list[str], secret: str | None) -> None:
        if secret:
            remember_secrets(secret)
        out.extend(_request_lines([("GET", path, 200, 0.5, None)] * 2)[1])

    contextvars.copy_context().run(request, first, None)
    contextvars.copy_context().run(request, second, "Zq7RvX2mPw")
    assert [json.loads(line)["path"] for line in first] == [path, path]  # positive control
    assert [json.loads(line)["path"] for line in second] == [f"/x/{REDACTED}"] * 2


def test_a_client_request_id_is_checked_on_every_line() -> None:
    from app.observability import _request_line

    plain: set[str] = set()
    lines = []
    for request_id in ("0af3c9d2e1b4", "monkey-1", 'a"b', "0af3c9d2e1b5"):
        with _request_id_bound(request_id):
            context = contextvars.copy_context()
        lines.append(_request_line("app.http", PLAIN_REQUESTS[0], context, 0, plain))
    assert lines[0] is not None and lines[3] is not None
    assert lines[1] is None and lines[2] is None  # "key" inside, a quote: the generic road
    generic, template = _request_lines([PLAIN_REQUESTS[0]], request_id="monkey-1")
    assert template == generic
    assert json.loads(template[0])["request_id"] == "monkey-1"


def test_the_remembered_texts_stay_bounded() -> None:
    from app.observability import _PLAIN_TEXTS_KEPT, _request_line

    plain: set[str] = set()
    with _request_id_bound("0af3c9d2e1b4"):
        context = contextvars.copy_context()
    for n in range(_PLAIN_TEXTS_KEPT * 2 + 5):
        line = _request_line("app.http", ("GET", f"/p/{n}", 404, 0.5, None), context, 0, plain)
        assert line is not None and f'"path":"/p/{n}"' in line
    assert 0 < len(plain) <= _PLAIN_TEXTS_KEPT
