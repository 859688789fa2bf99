"""The simulated caller's ear: a real-time playout queue, marks, and what it measured.

Both carriers keep a playout queue per stream: audio sent faster than real time is buffered, a
`mark` comes back when the audio queued before it has finished playing (at once when idle), and
`clear` flushes the queue and returns every pending mark (Telnyx: telnyx-protocol.md §1.3;
Twilio: https://www.twilio.com/docs/voice/media-streams/websocket-messages#send-a-mark-message).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

# Audio arriving after the queue ran dry for longer than this is a new utterance, not a gap.
_UTTERANCE_BREAK_S = 1.0


class Playout:
    def __init__(self) -> None:
        self._ends_at = 0.0  # monotonic time at which the queued audio finishes
        self._marks: deque[tuple[float, str]] = deque()
        self.underruns = 0
        self.underrun_s = 0.0
        self._playing = False

    def add_audio(self, duration_s: float, now: float) -> None:
        if self._playing and self._ends_at < now:
            starved = now - self._ends_at
            if starved < _UTTERANCE_BREAK_S:
                self.underruns += 1
                self.underrun_s += starved
        self._ends_at = max(now, self._ends_at) + duration_s
        self._playing = True

    def add_mark(self, name: str, now: float) -> bool:
        """Queue a mark; True means it is due at once because nothing is playing."""
        if self._ends_at <= now and not self._marks:
            return True
        self._marks.append((self._ends_at, name))
        return False

    def clear(self, now: float) -> list[str]:
        names = [name for _, name in self._marks]
        self._marks.clear()
        self._ends_at = now
        self._playing = False  # the silence after a barge-in is not an underrun
        return names

    def due_marks(self, now: float) -> list[str]:
        due = []
        while self._marks and self._marks[0][0] <= now:
            due.append(self._marks.popleft()[1])
        return due

    def next_due(self) -> float | None:
        return self._marks[0][0] if self._marks else None

    def queued_s(self, now: float) -> float:
        return max(0.0, self._ends_at - now)


class RttTracker:
    """Matches echoed audio to what was sent, for an echo bridge's round-trip time.

    Keys are decoded PCM, not codec bytes: μ-law 0x7F and 0xFF both mean zero, and a server
    may re-encode. The caller's clip loops, so each key keeps a queue of send times.
    """

    def __init__(self, horizon_s: float = 5.0) -> None:
        self._sent: dict[bytes, deque[float]] = {}
        self._order: deque[tuple[float, bytes]] = deque()
        self._horizon_s = horizon_s
        self.samples_ms: list[float] = []
        self.tracked = 0  # frames sent whose echo is looked for

    @property
    def missing(self) -> int:
        """Tracked frames whose echo never came back (or came after the horizon)."""
        return self.tracked - len(self.samples_ms)

    def sent(self, key: bytes, at: float) -> None:
        self.tracked += 1
        self._sent.setdefault(key, deque()).append(at)
        self._order.append((at, key))
        while self._order and at - self._order[0][0] > self._horizon_s:
            old_at, old_key = self._order.popleft()
            times = self._sent.get(old_key)
            if times and times[0] == old_at:
                times.popleft()
                if not times:
                    del self._sent[old_key]

    def received(self, key: bytes, at: float) -> None:
        times = self._sent.get(key)
        if times:
            self.samples_ms.append((at - times.popleft()) * 1000)
            if not times:
                del self._sent[key]


@dataclass
class MediaStats:
    stream_id: str = ""
    encoding: str = ""
    frames_sent: int = 0
    first_frame_at: float | None = None  # time.monotonic() of the first media frame sent
    bytes_sent: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    marks_received: int = 0
    marks_echoed: int = 0
    clears: int = 0
    dtmf_sent: int = 0
    errors_sent: list[int] = field(default_factory=list)
    rtt_ms: list[float] = field(default_factory=list)
    echoes_missing: int = 0  # speech frames sent whose echo never came back
    max_gap_ms: float = 0.0
    underruns: int = 0
    underrun_ms: float = 0.0
    close_code: int | None = None
    closed_by: str = ""  # "carrier" (our stop) or "server"
    failed: str | None = None  # streaming.failed reason
    _last_arrival: float | None = field(default=None, repr=False)

    def note_arrival(self, now: float) -> None:
        if self._last_arrival is not None:
            gap = (now - self._last_arrival) * 1000
            # A pause longer than an utterance break is the agent being quiet, not a gap.
            if gap < _UTTERANCE_BREAK_S * 1000:
                self.max_gap_ms = max(self.max_gap_ms, gap)
        self._last_arrival = now

    @property
    def rtt_p50_ms(self) -> float | None:
        return percentile(self.rtt_ms, 50)

    @property
    def rtt_p99_ms(self) -> float | None:
        return percentile(self.rtt_ms, 99)


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]
