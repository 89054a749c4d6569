"""Exponential backoff with jitter for upstream retries."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delay before retry number ``attempt`` (0-based): initial * factor**attempt, capped,
    then spread by +-``jitter`` (a fraction) so that many failing streams do not retry in step.
    """

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2
    rand: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        spread = base * self.jitter * (2 * self.rand() - 1)
        return max(0.0, min(self.maximum, base + spread))
