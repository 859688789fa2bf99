"""Building blocks for the fuzz suite: hostile text and JSON as a hostile peer would send it.

Hypothesis draws the shape of each case (which fault, which fields, which pool member) and
a seed; the bulky contents (strings, nested JSON) come from a PRNG with that seed. Drawing
every character through Hypothesis costs more than the server spends on the case, and the
suite runs 10,000 cases per protocol; a failing case still prints and replays exactly.
"""

from __future__ import annotations

import functools
import math
import random
import re
import string
from typing import Any

from hypothesis import strategies as st

# Where hostile characters come from: each string mixes a few of these.
_PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "
_CONTROLS = "".join(map(chr, [*range(0x20), 0x7F]))
_TRICKY = '"\\/%?#&=+\u00a0\u0085\u200b\u200e\u202e\u2028\u2029\ufeff\ufffd\uffff'
_URL_SAFE = string.ascii_letters + string.digits + "-_:=.~"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a parsed string: pairs are joined


class Hostile:
    """Hostile values from one seed: text with control characters, lone surrogates (which
    JSON carries as `\\ud800` escapes), bidi overrides, astral planes; JSON with huge and
    non-finite numbers and nesting."""

    def __init__(self, seed: int, *, unstorable: bool = False) -> None:
        self.rng = random.Random(seed)
        self.unstorable = unstorable  # may produce lone surrogates, NaN and ±inf

    def __repr__(self) -> str:
        return "Hostile(...)"

    def size(self, max_size: int) -> int:
        return min(max_size, self.rng.choice((0, 1, 1, 2, 3, 5, 8, 13, 24, max_size)))

    def text(
        self,
        max_size: int = 24,
        *,
        min_size: int = 0,
        controls: bool = True,
        surrogates: bool = True,
    ) -> str:
        size = max(min_size, self.size(max_size))
        if self.rng.random() < 0.4:  # plain text is common in the wild, and cheap
            return "".join(self.rng.choices(_PRINTABLE, k=size))
        return "".join(self.char(controls=controls, surrogates=surrogates) for _ in range(size))

    def char(self, *, controls: bool = True, surrogates: bool = True) -> str:
        rng = self.rng
        pool = rng.randrange(16)
        if pool < 7:
            return rng.choice(_PRINTABLE)
        if pool < 9:
            return rng.choice(_TRICKY)
        if pool == 9 and controls:
            return rng.choice(_CONTROLS)
        if pool == 10 and surrogates and self.unstorable:
            return chr(rng.randrange(0xD800, 0xE000))
        if pool == 11:
            return chr(rng.randrange(0x10000, 0x110000))
        if pool == 12:
            return chr(rng.randrange(0x80, 0x100))
        return chr(rng.choice((rng.randrange(0x100, 0xD800), rng.randrange(0xE000, 0xFFFE))))

    def url_safe(self, min_size: int = 1, max_size: int = 40) -> str:
        size = self.rng.randint(min_size, max_size)
        return "".join(self.rng.choices(_URL_SAFE, k=size))

    def scalar(self) -> Any:
        rng = self.rng
        kind = rng.randrange(9)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.randint(-5, 5)
        if kind == 3:
            return rng.randint(-(10**30), 10**30)
        if kind == 4:
            finite = (0.0, -0.0, 1.5, 1e308, -1e-308)
            return rng.choice(
                (*finite, math.nan, math.inf, -math.inf) if self.unstorable else finite
            )
        return self.text()

    def json(self, depth: int = 2) -> Any:
        kind = self.rng.randrange(6)
        if depth <= 0 or kind < 4:
            return self.scalar()
        if kind == 4:
            return [self.json(depth - 1) for _ in range(self.rng.randrange(4))]
        return {self.text(8): self.json(depth - 1) for _ in range(self.rng.randrange(4))}

    def extras(self, reserved: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
        """Fields nobody asked for, under names that do not shadow the ones under test."""
        names = (self.text(10) for _ in range(self.rng.choice((0, 0, 0, 0, 1, 2))))
        return {name: self.json() for name in names if name not in reserved}

    def binary(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.size(max_size))


# One seed in eight may make what no database stores (seed 0, where failures shrink to, never
# does); the rest exercise everything else.
hostiles = st.integers(0, 2**32 - 1).map(lambda seed: Hostile(seed, unstorable=seed % 8 == 7))


@functools.cache
def _below(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


def pick(draw: st.DrawFn, n: int) -> int:
    """A number in range(n), drawn by Hypothesis (so it shrinks towards 0)."""
    return draw(_below(n))


def unstorable(value: object) -> bool:
    """Valid to Python's json, but not storable text or JSON: lone surrogates, NaN, ±inf."""
    if isinstance(value, str):
        return _LONE_SURROGATE.search(value) is not None
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unstorable(item) for item in value)
    return False


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Pick a strategy by weight, from a drawn seed: Hypothesis's own integer draws favour
    the ends of a range and its mutator copies earlier choices, which would skew the mix."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, 2**32 - 1).flatmap(
        lambda seed: table[random.Random(seed).randrange(len(table))]
    )
