"""The one JSON nesting limit (64 levels), on raw text and on decoded values."""

from __future__ import annotations

import json

import msgspec
import pytest

from app.domain.errors import BadInput, NestingTooDeep
from app.domain.nesting import (
    MAX_NESTING_DEPTH,
    check_json_nesting,
    check_nesting,
    json_nesting_depth,
)


def nested(levels: int) -> str:
    return '{"a":' * (levels - 1) + "[]" + "}" * (levels - 1)


def test_the_depth_of_a_json_text_ignores_brackets_inside_strings() -> None:
    assert json_nesting_depth('[1, "[[[{{{", {"a": {"b": "]]]\\"[["}}]') == 3
    assert json_nesting_depth("42") == 0
    assert json_nesting_depth(b"") == 0


@pytest.mark.parametrize("levels", [1, 2, MAX_NESTING_DEPTH])
def test_texts_up_to_the_limit_pass(levels: int) -> None:
    text = nested(levels)
    assert json_nesting_depth(text) == levels
    check_json_nesting(text)
    check_nesting(json.loads(text))


@pytest.mark.parametrize("levels", [MAX_NESTING_DEPTH + 1, 1_000, 100_000])
def test_texts_beyond_the_limit_are_bad_input_not_a_crash(levels: int) -> None:
    text = nested(levels)
    with pytest.raises(NestingTooDeep, match="nested deeper than 64 levels") as caught:
        check_json_nesting(text.encode())
    assert isinstance(caught.value, BadInput)


def test_the_limit_is_well_below_where_the_decoder_breaks() -> None:
    """Why the limit exists: msgspec recurses per level and gives up near 1,000 levels."""
    msgspec.json.decode(nested(MAX_NESTING_DEPTH))
    with pytest.raises(RecursionError):
        msgspec.json.decode(nested(100_000))


def test_a_decoded_value_deeper_than_the_limit_is_refused_iteratively() -> None:
    value: object = []
    for _ in range(5_000):  # deeper than Python's recursion limit: no RecursionError here
        value = [value]
    with pytest.raises(NestingTooDeep):
        check_nesting(value)
    ok: object = {"a": [1, {"b": []}]}
    check_nesting(ok)


def comb(levels: int) -> str:
    """Each level holds a leaf array and the next level: no long run of openers."""
    return "[[]," * (levels - 1) + "[]" + "]" * (levels - 1)


def test_interleaved_nesting_is_measured_level_by_level() -> None:
    assert json_nesting_depth(comb(MAX_NESTING_DEPTH)) == MAX_NESTING_DEPTH
    check_json_nesting(comb(MAX_NESTING_DEPTH))
    with pytest.raises(NestingTooDeep):
        check_json_nesting(comb(MAX_NESTING_DEPTH + 1))
    mixed = '{"a":[' * 40 + "1" + "]}" * 40  # 80 levels of objects and arrays
    with pytest.raises(NestingTooDeep):
        check_json_nesting(mixed)
    check_json_nesting('{"a":[' * 32 + "1" + "]}" * 32)  # exactly 64
