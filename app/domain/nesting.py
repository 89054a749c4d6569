"""One nesting limit for every decoder that reads untrusted JSON (HTTP bodies, Socket.IO
payloads, proxied upstream answers).

Why a limit at all: msgspec and the standard ``json`` module recurse once per level and raise
``RecursionError`` near 1,000 levels, which a 2 KB body reaches. 64 levels is far below that
and far above any exchange API (ccxt's deepest unified structures nest 4-5 levels). Check the
raw text *before* decoding (``check_json_nesting``) where the decoder itself would recurse;
check a decoded value (``check_nesting``) where someone else already decoded it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import accumulate

from app.domain.errors import NestingTooDeep

MAX_NESTING_DEPTH = 64
"""Deepest allowed nesting of JSON arrays/objects; the top-level value is level 1."""

# A JSON string, escapes included ("unrolled loop" form: linear time, no backtracking).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN, _CLOSE = b"[{", b"]}"
_NOT_BRACKET = bytes(b for b in range(256) if b not in _OPEN + _CLOSE)
_STEP = dict.fromkeys(_OPEN, 1) | dict.fromkeys(_CLOSE, -1)
_ONE_KIND = bytes.maketrans(b"{}", b"[]")  # depth only: objects count as arrays


def _brackets(raw: bytes | str) -> bytes:
    """Only the brackets of a JSON text, those inside strings left out."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if b'"' in data:
        data = _STRING.sub(b"", data)
    return data.translate(None, _NOT_BRACKET)


def json_nesting_depth(raw: bytes | str) -> int:
    """The deepest array/object nesting of a JSON text (0 for a scalar).

    Brackets inside strings do not count. The text need not be valid JSON: the answer is an
    upper bound of what a decoder would recurse through. Cost: one C-level pass over the
    text, plus one Python step per bracket (``check_json_nesting`` avoids the latter).
    """
    brackets = _brackets(raw)
    if not brackets:
        return 0
    deepest = max(accumulate(_STEP[b] for b in brackets))
    return max(deepest, 0)


def check_json_nesting(raw: bytes | str, limit: int = MAX_NESTING_DEPTH) -> None:
    """Refuse a JSON text nested deeper than ``limit`` levels, before it is decoded.

    Each pass deletes every innermost bracket pair at C speed, so a text of depth d is empty
    after d passes: at most ``limit`` passes decide it (5-10x faster than counting bracket by
    bracket on exchange-sized answers: wide and shallow texts empty in 2-4 passes).

    Raises:
        NestingTooDeep: (a ``BadInput``) naming the limit.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # Fast path: a text with at most `limit` opening brackets cannot nest deeper.
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    brackets = _brackets(data).translate(_ONE_KIND)
    too_deep = b"[" * (limit + 1)  # a run of openers deeper than the limit: decided at once
    for _ in range(limit):
        if not brackets:
            return
        if too_deep in brackets:
            raise NestingTooDeep(limit)
        # One level per pass: replace() does not rescan the pairs its own deletions form.
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):  # not balanced JSON: count exactly
            if json_nesting_depth(brackets) > limit:
                raise NestingTooDeep(limit)
            return
        brackets = shorter
    if brackets:
        raise NestingTooDeep(limit)


def check_nesting(value: object, limit: int = MAX_NESTING_DEPTH) -> None:
    """Refuse an already decoded value (dicts, lists, tuples) nested deeper than ``limit``.

    Iterative, so a value deeper than Python's recursion limit is refused, not crashed on.

    Raises:
        NestingTooDeep: (a ``BadInput``) naming the limit.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: object = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            raise NestingTooDeep(limit)
        stack.extend((child, depth + 1) for child in children)  # type: ignore[attr-defined]


__all__ = ["MAX_NESTING_DEPTH", "check_json_nesting", "check_nesting", "json_nesting_depth"]
