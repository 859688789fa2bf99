"""Inbound reordering of Telnyx media frames by `sequence_number`.

Telnyx does not guarantee the order of frames on the media socket and says to
reorder by `chunk`, `timestamp` or `sequence_number` (telnyx-protocol.md 1.2).
The socket numbers every frame it sends (`start` usually consumes 1, so media
starts at 2 or later); the first number we see is taken as the start.

A small window trades latency for tolerance: a gap holds back at most `window`
frames (20 ms each) before we give up on the missing frame and move on.

A number more than `max_jump` away from the next one expected (10 minutes of frames) is no
gap a real stream makes: one such frame (say 10**20, from a hostile or broken peer) is
dropped as late instead of becoming the stream's new position, which would make every later
frame late. Only a run of `window + 1` (at least 2) consecutive far numbers moves the stream there: a
stream that really was renumbered loses that many frames, not the rest of the call.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

# How many skipped sequence numbers we remember, to tell a late frame (skipped,
# then arrived) from a duplicate (already released). Older ones count as duplicates.
_SKIPPED_MEMORY = 512
MAX_JUMP = 30_000  # 10 minutes of 20 ms frames


class ReorderBuffer(Generic[T]):
    """Releases items in sequence order, holding at most `window` early arrivals.

    Every pushed item ends up in exactly one counter: `released`, `late` (older
    than the next expected number, after we skipped it or before the start) or
    `duplicate` (a number already held or released). `missing` counts numbers
    skipped because the window overflowed or the stream ended.
    """

    def __init__(self, window: int = 3, *, max_jump: int = MAX_JUMP) -> None:
        if window < 0:
            raise ValueError("window must not be negative")
        self.window = window
        self.max_jump = max_jump
        self._far_run: list[tuple[int, T]] = []  # consecutive far numbers, as they came
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
        if abs(seq - self._next) > self.max_jump:
            return self._far(seq, item)
        if self._far_run:  # stray far numbers, not the start of a new numbering
            self.late += len(self._far_run)
            self._far_run.clear()
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

    def _far(self, seq: int, item: T) -> list[T]:
        run = self._far_run
        if run and seq != run[-1][0] + 1:
            self.late += len(run)  # not a run after all: those were stray too
            run.clear()
        run.append((seq, item))
        if len(run) <= max(self.window, 1):  # even without reordering, one frame is no run
            return []
        # The stream was renumbered: what is held belongs to the old numbering, and goes
        # out first; then the run starts the new one. Nothing in between was lost.
        released = self._release_held()
        self._start = self._next = run[0][0]
        self._skipped.clear()
        for number, held in run:
            self._held[number] = held
        run.clear()
        return released + self._release_run()

    def flush(self) -> list[T]:
        """Release everything held, in order, at the end of the stream."""
        self.late += len(self._far_run)
        self._far_run.clear()
        return self._release_held()

    def _release_held(self) -> list[T]:
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
