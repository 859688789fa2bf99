"""What one media peer can make us keep: per-call caps on stored events, and on log lines.

A carrier's socket is an input like any other: a peer that sends 5,000 `dtmf` frames a
second, or 60 KB `error` frames in a loop, must not turn each one into a database row or a
log line. Every frame is still counted (telephony.media.stats); beyond the caps it is only
counted. Both checks are O(1) dictionary work, cheap enough for every frame.

- `StoreCaps`: at most `cap` stored events of each kind per call (DTMF, carrier errors, bad
  frames, which include unknown events). What is over the cap is counted in `dropped`
  (stored as `Call.media_events_dropped`), and the first refusal of each kind says so once,
  so the call's history shows that the cap was reached.
- `LogLimiter`: the first `burst` lines of each kind per call, then at most one every
  `interval` seconds, carrying how many were left out since the last one.
- `quote`: what a log line or a stored detail may quote of a peer's text; `clip`: the same
  for a peer's JSON that we store (an `error` frame's object).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

QUOTE_CHARS = 200
CLIP_ITEMS = 20  # of a list or an object we store from a peer
CLIP_DEPTH = 4


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """`value` as text, cut to `limit` characters and saying how long it was when cut."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def clip(value: Any, *, depth: int = CLIP_DEPTH) -> Any:
    """A peer's JSON cut down to what is worth storing: strings quoted, at most CLIP_ITEMS
    entries per list or object, CLIP_DEPTH levels (deeper ones are quoted as text)."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, dict | list) and depth <= 0:
        return quote(value)
    if isinstance(value, dict):
        items = list(value.items())
        clipped = {quote(k, 60): clip(v, depth=depth - 1) for k, v in items[:CLIP_ITEMS]}
        if len(items) > CLIP_ITEMS:
            clipped["..."] = f"{len(items) - CLIP_ITEMS} more keys"
        return clipped
    if isinstance(value, list):
        clipped_list = [clip(v, depth=depth - 1) for v in value[:CLIP_ITEMS]]
        if len(value) > CLIP_ITEMS:
            clipped_list.append(f"... {len(value) - CLIP_ITEMS} more items")
        return clipped_list
    return value


class StoreCaps:
    """Per-call caps on stored media events, by kind."""

    def __init__(self, caps: Mapping[str, int]) -> None:
        self.caps = dict(caps)
        self.stored: dict[str, int] = dict.fromkeys(self.caps, 0)
        self.dropped = 0  # every kind together: Call.media_events_dropped

    def allow(self, kind: str) -> bool | None:
        """True: store this one. None: the cap was reached just now (store a note of that,
        once). False: over the cap, counted in `dropped`."""
        stored = self.stored[kind]
        if stored < self.caps[kind]:
            self.stored[kind] = stored + 1
            return True
        self.dropped += 1
        if stored == self.caps[kind]:
            self.stored[kind] = stored + 1  # past the cap: the note is not repeated
            return None
        return False


class LogLimiter:
    """Per-call rate limit on repeated log lines, by kind, on the session's clock."""

    def __init__(self, clock: Callable[[], float], *, burst: int = 5, interval: float = 10.0):
        self._clock = clock
        self._burst = burst
        self._interval = interval
        self._seen: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        self._next_at: dict[str, float] = {}

    def allow(self, kind: str) -> int | None:
        """None: leave this line out. Otherwise log it, with the number returned: how many
        lines of this kind were left out since the last one logged (0 for none)."""
        seen = self._seen.get(kind, 0) + 1
        self._seen[kind] = seen
        if seen <= self._burst:
            return 0
        now = self._clock()
        if now < self._next_at.get(kind, 0.0):
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return None
        self._next_at[kind] = now + self._interval
        return self._suppressed.pop(kind, 0)
