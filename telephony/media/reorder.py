"""Inbound reordering of Telnyx media frames by `sequence_number`.

Telnyx does not guarantee the order of frames on the media socket and says to
reorder by `chunk`, `timestamp` or `sequence_number` (telnyx-protocol.md 1.2).
The socket numbers every frame it sends (`start` usually consumes 1, so media
starts at 2 or later); the first number we see is taken as the start.

A small window trades latency for tolerance: a gap holds back at most `window`
frames (20 ms each) before we give up on the missing frame and move on.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

# How many skipped sequence numbers we remember, to tell a late frame (skipped,
# then arrived) from a duplicate (already released). Older ones count as duplicates.
_SKIPPED_MEMORY = 512


class ReorderBuffer(Generic[T]):
    """Releases items in sequence order, holding at most `window` early arrivals.

    Every pushed item ends up in exactly one counter: `released`, `late` (older
    than the next expected number, after we skipped it or before the start) or
    `duplicate` (a number already held or released). `missing` counts numbers
    skipped because the window overflowed or the stream ended.
    """

    def __init__(self, window: int = 3) -> None:
        if window < 0:
            raise ValueError("window must not be negative")
        self.window = window
        self._started = False
        self._start = 0
        self._next = 0
        self._held: dict[int, T] = {}
        self._skipped: set[int] = set()
        self.released = 0
        self.late = 0
        self.duplicate = 0
        self.missing = 0

    @property
    def pending(self) -> int:
        return len(self._held)

    def push(self, seq: int, item: T) -> list[T]:
        if not self._started:
            self._started = True
            self._start = self._next = seq
        if seq < self._next:
            self._drop_old(seq)
            return []
        if seq in self._held:
            self.duplicate += 1
            return []
        self._held[seq] = item
        released = self._release_run()
        if len(self._held) > self.window:
            self._skip_to(min(self._held))
            released += self._release_run()
        return released

    def flush(self) -> list[T]:
        """Release everything held, in order, at the end of the stream."""
        released: list[T] = []
        while self._held:
            self._skip_to(min(self._held))
            released += self._release_run()
        return released

    def _release_run(self) -> list[T]:
        released: list[T] = []
        while self._next in self._held:
            released.append(self._held.pop(self._next))
            self._next += 1
        self.released += len(released)
        return released

    def _skip_to(self, seq: int) -> None:
        self.missing += seq - self._next
        self._skipped.update(range(max(self._next, seq - _SKIPPED_MEMORY), seq))
        self._next = seq
        if len(self._skipped) > 2 * _SKIPPED_MEMORY:
            horizon = seq - _SKIPPED_MEMORY
            self._skipped = {s for s in self._skipped if s >= horizon}

    def _drop_old(self, seq: int) -> None:
        if seq < self._start or seq in self._skipped:
            self._skipped.discard(seq)  # a second copy is a duplicate
            self.late += 1
        else:
            self.duplicate += 1
