"""Keyed randomness: every random draw is a pure function of (seed, symbol, what, where)."""

from __future__ import annotations

import hashlib
import math
import random


def key_int(*parts: object) -> int:
    """A stable 64-bit integer for a key (``hash()`` is salted per process, so not that)."""
    text = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def keyed_rng(*parts: object) -> random.Random:
    """A generator seeded by a key (``random()``/``gauss()`` are stable across CPython)."""
    return random.Random(key_int(*parts))


def unit(*parts: object) -> float:
    """A uniform draw in [0, 1) for a key, without building a generator."""
    return key_int(*parts) / 2.0**64


def gauss(*parts: object) -> float:
    """A standard normal draw for a key (Box-Muller over two keyed uniforms)."""
    u1 = max(unit(*parts, "u1"), 1e-300)
    u2 = unit(*parts, "u2")
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def pick(rng: random.Random, n: int) -> int:
    """An index in range(n); ``random()`` only, since ``randrange`` may change between versions."""
    return min(n - 1, int(rng.random() * n))
