"""Validation of the read budget's own request field, ``maxAgeMs``."""

from __future__ import annotations

from app.domain.errors import BadInput
from app.domain.validation import FIELD_ERRORS


def optional_max_age_ms(value: object) -> int | None:
    """The client's ``maxAgeMs``: None, or an integer >= 0 (ms). Raises BadInput otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(FIELD_ERRORS["maxAgeMs"])
    if value < 0:
        raise BadInput("maxAgeMs must be >= 0")
    return value
