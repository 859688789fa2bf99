"""Outbound framing and pacing for a carrier's media stream.

Telnyx plays the audio we send from a per-stream playout queue (telnyx-protocol.md
1.3): audio sent faster than real time is buffered, `clear` empties the queue, and
a `mark` is echoed once the audio before it has played. In RTP mode each media
message must hold 20 ms to 30 s of audio (1.4). Twilio's Media Streams behave alike.

So we send whole 20 ms frames only, padding the last one of an utterance with
codec silence, and keep a small lead queued ahead of real time: enough to ride out
scheduling jitter, small enough that a barge-in `clear` leaves little audio in
flight and that our stats about what has been heard stay honest.

The agent's audio comes from a real-time source (the echo, a Stream call): it arrives
as fast as it is played. So once a stall (an overloaded worker, a slow event loop) has
let audio pile up in our queue, nothing ever drains it: every word after it is heard
that much later, for the rest of the call. The sender sheds that debt instead. Past
half of `max_lag_ms` it drops the silent frames it is given (pauses get shorter, no
word is cut); past `max_lag_ms` it drops the oldest queued audio, so what the caller
hears is never more than `max_lag_ms` behind what the agent said.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from telephony.media.codecs import FRAME_MS, Codec, to_int16
from telephony.media.levels import AGENT_SPEECH_DBFS, Level

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Waits shorter than this are treated as done. Without it a sender could spin on
# a delay too small to move a large clock value (float rounding), for ever.
_TOLERANCE_S = 1e-6
# Marks sent and not yet echoed that we remember. A carrier that never echoes (or a peer that
# drops them) must not grow the list for ever: one a second, this is over four minutes' worth.
MAX_PENDING_MARKS = 256
FRAME_S = FRAME_MS / 1000


class Reframer:
    """Cuts a byte stream into whole frames, keeping the remainder for later."""

    def __init__(self, frame_bytes: int, silence_byte: int | bytes) -> None:
        if frame_bytes <= 0:
            raise ValueError("frame_bytes must be positive")
        self.frame_bytes = frame_bytes
        self._silence = bytes([silence_byte]) if isinstance(silence_byte, int) else silence_byte
        if len(self._silence) != 1:
            raise ValueError("silence_byte must be a single byte")
        self._buffer = bytearray()

    @classmethod
    def for_codec(cls, codec: Codec) -> Reframer:
        return cls(codec.frame_bytes, codec.silence_byte)

    def push(self, data: bytes) -> list[bytes]:
        if not self._buffer and len(data) == self.frame_bytes:
            return [bytes(data)]  # one whole frame, as the echo feeds: nothing to cut
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % self.frame_bytes
        if not whole:
            return []
        chunk = bytes(self._buffer[:whole])
        del self._buffer[:whole]
        return [chunk[i : i + self.frame_bytes] for i in range(0, whole, self.frame_bytes)]

    def flush(self) -> bytes | None:
        """Return the remainder padded to a whole frame with silence, if any."""
        if not self._buffer:
            return None
        frame = bytes(self._buffer) + self._silence * (self.frame_bytes - len(self._buffer))
        self._buffer.clear()
        return frame

    def clear(self) -> None:
        self._buffer.clear()


class Pacer:
    """A model of the far end's playout clock, used to keep a bounded lead.

    `playout_end` is when everything sent so far will have finished playing,
    assuming the far end plays each frame as soon as it has it and the frame
    before is done: each send moves it to max(playout_end, now) + one frame.
    The lead, playout_end - now, is the audio queued at the far end (network
    latency ignored).

    `delay()` is how long to wait so that the next send leaves the lead at most
    max_lead_ms. A sender that wakes late finds a smaller lead and a zero delay,
    so it catches up by itself. The lead never exceeds max(max_lead_ms, frame_ms)
    (one frame must be in flight for audio to play at all), give or take the
    microsecond of tolerance that absorbs float rounding.

    An underrun is an audible gap: the far end has run out (now >= playout_end)
    while the agent is mid-utterance and we have nothing to send. `note_idle()`
    counts one per dry spell; the next send ends the spell. `pending_underrun()`
    says whether a spell is under way that nobody has counted yet, so a count can
    be read at any time without waking up to watch the far end run dry.
    """

    def __init__(
        self, *, frame_ms: int = FRAME_MS, max_lead_ms: int = 100, clock: Clock = time.monotonic
    ) -> None:
        self.frame_s = frame_ms / 1000
        self.max_lead_s = max(max_lead_ms, frame_ms) / 1000
        self._clock = clock
        self._playout_end = clock()
        self._in_dry_spell = False
        self.max_lead_seen_ms = 0.0
        self.underruns = 0

    @property
    def playout_end(self) -> float:
        return self._playout_end

    def lead_ms(self) -> float:
        return max(self._playout_end - self._clock(), 0.0) * 1000

    def delay(self) -> float:
        delay = self._playout_end - self._clock() + self.frame_s - self.max_lead_s
        return delay if delay > _TOLERANCE_S else 0.0

    def on_sent(self) -> None:
        now = self._clock()
        self._playout_end = max(self._playout_end, now) + self.frame_s
        self._in_dry_spell = False
        self.max_lead_seen_ms = max(self.max_lead_seen_ms, (self._playout_end - now) * 1000)

    def reset(self) -> None:
        """Forget the far end's queue, as after a `clear`."""
        self._playout_end = self._clock()
        self._in_dry_spell = False

    def ran_dry(self) -> bool:
        return self._clock() >= self._playout_end - _TOLERANCE_S

    def pending_underrun(self, speaking: bool) -> bool:
        return speaking and not self._in_dry_spell and self.ran_dry()

    def note_idle(self, speaking: bool) -> bool:
        """Record that we had nothing to send; return True if that is a new underrun."""
        if not self.pending_underrun(speaking):
            return False
        self._in_dry_spell = True
        self.underruns += 1
        return True


@dataclass(frozen=True)
class _Mark:
    name: str


class _UtteranceEnd:
    """Queue marker: the audio before it closes an utterance, so silence after is expected."""


# A queued frame is its int16 PCM in native byte order: the reframer cuts bytes, and a
# zero sample (the padding of an utterance's last frame) is zero bytes either way round.
_QueueItem = bytes | _Mark | _UtteranceEnd
_PCM = np.dtype(np.int16)  # a dtype object: np.frombuffer parses a type on every call


class PacedSender:
    """One task that sends queued 20 ms frames to the carrier at real-time pace.

    Producers call `feed()` with int16 PCM at the codec's rate, `end_of_utterance()`
    when the agent stops talking, `mark()` to learn when audio has played, and
    `clear()` on barge-in (the caller also sends the carrier's `clear`). `run()` is
    the sending loop; `clock` and `sleep` are injectable so tests need no real time.
    `send` gets each frame as int16 PCM when its time comes: the session records,
    encodes and sends it then, so the recording lines up with what was sent.

    Underruns are counted when they can be seen (a frame fed into an empty queue,
    the loop going idle, or the count being read), never by a timer.

    `max_lag_ms` bounds the agent audio lag, how late a frame fed now will be heard
    (the far end's lead plus our queue): past it the oldest queued frames are shed;
    past half of it, silent frames are shed as they are fed, so a backlog drains in
    the agent's pauses before any speech has to be cut. None leaves the lag unbounded
    (only `max_queue_ms` caps the queue). Either way, shed frames are counted
    (`shed_frames`, `dropped_frames`) and never sent.
    """

    def __init__(
        self,
        send: Callable[[np.ndarray], Awaitable[None]],
        codec: Codec,
        *,
        send_mark: Callable[[str], Awaitable[None]] | None = None,
        max_lead_ms: int = 100,
        max_queue_ms: int = 5000,
        max_lag_ms: int | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._send = send
        self._send_mark = send_mark
        self._clock = clock
        self._sleep = sleep
        self._reframer = Reframer(codec.frame_samples * _PCM.itemsize, 0)
        self._frame_bytes = codec.frame_bytes  # encoded, as the carrier gets it
        self._pacer = Pacer(frame_ms=FRAME_MS, max_lead_ms=max_lead_ms, clock=clock)
        self._queue: deque[_QueueItem] = deque()
        self._queued_frames = 0
        self._max_queued_frames = max(max_queue_ms // FRAME_MS, 1)
        self._max_lag_s, self._quiet_lag_s = _lag_bounds(max_lag_ms, max_lead_ms)
        self._voiced = Level(AGENT_SPEECH_DBFS)
        self._wakeup = asyncio.Event()
        self._batch = _Batch(self)
        self._batching = False
        # Held while a queue item is taken and sent, by run() or at the end of a batch, so
        # the two never interleave and frames leave in order.
        self._sending = asyncio.Lock()
        self._speaking = False
        self._stopping = False
        self._cleared_marks: set[str] = set()
        self.frames_sent = 0
        self.bytes_sent = 0
        self.dropped_frames = 0
        self.shed_frames = 0
        self.cleared_frames = 0
        self.first_send_at: float | None = None
        self.pending_marks: list[str] = []
        # Bounded so a long call that marks every utterance cannot grow without limit.
        self.played_marks: deque[str] = deque(maxlen=256)

    # Producer side (synchronous: safe to call from any coroutine on the loop).

    def feed(self, samples: np.ndarray) -> int:
        """Queue int16 PCM at the codec's rate; return how many whole frames it completed."""
        frames = self._reframer.push(to_int16(samples).tobytes())
        for frame in frames:
            self._enqueue(frame)
        if frames:
            self._wake()
        return len(frames)

    def batch(self) -> _Batch:
        """`async with sender.batch():` feed, then send what is due from this task.

        Inside the block, producers queue without waking `run()`; on leaving it, what
        the lead allows goes out at once from the task that fed it, and `run()` is woken
        only for what has to wait. The media session handles each inbound frame in a
        batch, so a bridge that answers from inside it (the echo, one frame per frame)
        costs the sending task no wake-up per frame: at 50 frames a second per call,
        those wake-ups were a measurable share of the server's time.
        """
        return self._batch

    def end_of_utterance(self) -> None:
        """Queue the remainder padded with silence; silence after it is no underrun."""
        tail = self._reframer.flush()
        if tail is not None:
            self._enqueue(tail)
        self._queue.append(_UtteranceEnd())
        self._wake()

    def mark(self, name: str) -> None:
        """Send mark `name` once the frames queued so far have been sent.

        Audio still in the reframer (under one frame) is not covered: call
        `end_of_utterance()` first when the mark should follow every sample.
        """
        if self._send_mark is None:
            raise RuntimeError("PacedSender was built without send_mark")
        self._queue.append(_Mark(name))
        self._wake()

    def clear(self) -> int:
        """Drop everything not yet sent (barge-in); return the number of frames dropped."""
        dropped = self._queued_frames
        self._queue.clear()
        self._queued_frames = 0
        self._reframer.clear()
        self._pacer.reset()
        self._speaking = False
        # Telnyx echoes the marks its `clear` flushed; they must not count as played.
        self._cleared_marks.update(self.pending_marks)
        self.pending_marks.clear()
        if len(self._cleared_marks) > MAX_PENDING_MARKS:
            # Names are never reused, so a forgotten one is not pending either: its late
            # echo still does not count as played.
            self._cleared_marks.clear()
        self.cleared_frames += dropped
        return dropped

    def close(self) -> None:
        """Stop `run()` at once; what is still queued is never sent."""
        self._stopping = True
        self._wakeup.set()

    def on_mark_echoed(self, name: str) -> bool:
        """Record a `mark` event from Telnyx; return True if its audio really played."""
        if name in self._cleared_marks:
            self._cleared_marks.discard(name)
            return False
        if name not in self.pending_marks:
            return False
        self.pending_marks.remove(name)
        self.played_marks.append(name)
        return True

    # Stats.

    @property
    def queued_frames(self) -> int:
        return self._queued_frames

    @property
    def underruns(self) -> int:
        # Counting the spell under way, if any, as it would be once noticed.
        uncounted = not self._queued_frames and self._pacer.pending_underrun(self._speaking)
        return self._pacer.underruns + uncounted

    @property
    def max_lead_seen_ms(self) -> float:
        return self._pacer.max_lead_seen_ms

    def lead_ms(self) -> float:
        return self._pacer.lead_ms()

    def lag_ms(self) -> float:
        """How late audio fed now would be heard: the far end's lead plus our queue."""
        return self._lag_s() * 1000

    # The sending loop.

    async def run(self) -> None:
        while not self._stopping:
            if self._queue:
                await self._step()
            else:
                await self._idle()

    async def _step(self) -> None:
        if isinstance(self._queue[0], bytes):
            delay = self._pacer.delay()
            if delay > 0:
                # Re-read the queue after waking: clear() or close() may have run.
                await self._sleep(delay)
                return
        async with self._sending:
            if self._queue:  # a batch may have emptied it while we waited for the lock
                await self._take()

    async def _send_due(self) -> None:
        """Send what is due now from the caller's task; leave the rest to `run()`."""
        if self._sending.locked() or self._stopping:
            self._wakeup.set()  # run() is mid-send, or winding down: it takes the queue
            return
        async with self._sending:
            while self._queue and not self._stopping:
                if isinstance(self._queue[0], bytes) and self._pacer.delay() > 0:
                    break
                await self._take()
        if self._queue or self._stopping:
            self._wakeup.set()

    async def _take(self) -> None:
        """Pop the head of the queue and act on it; its time has come."""
        head = self._queue.popleft()
        if isinstance(head, bytes):
            self._queued_frames -= 1
            await self._send_frame(head)
        elif isinstance(head, _Mark):
            self.pending_marks.append(head.name)
            if len(self.pending_marks) > MAX_PENDING_MARKS:
                del self.pending_marks[0]  # never echoed: it will not be now
            if self._send_mark is not None:  # always set: mark() refuses to queue otherwise
                await self._send_mark(head.name)
        else:
            self._speaking = False

    async def _send_frame(self, frame: bytes) -> None:
        self._pacer.on_sent()
        self._speaking = True
        self.frames_sent += 1
        self.bytes_sent += self._frame_bytes
        if self.first_send_at is None:
            self.first_send_at = self._clock()
        await self._send(np.frombuffer(frame, _PCM))

    async def _idle(self) -> None:
        self._wakeup.clear()
        self._pacer.note_idle(self._speaking)
        await self._wakeup.wait()

    def _wake(self) -> None:
        if not self._batching:  # a batch sends or wakes when it ends
            self._wakeup.set()

    def _enqueue(self, frame: bytes) -> None:
        if not self._queued_frames:
            # We had nothing to send until now: if the far end ran dry meanwhile, that was an
            # underrun, and this frame ends it.
            self._pacer.note_idle(self._speaking)
        elif self._max_lag_s is not None and self._in_debt(frame):
            self.shed_frames += 1  # a silent frame while behind: shorten the pause
            return
        self._queue.append(frame)
        self._queued_frames += 1
        if self._queued_frames > self._max_queued_frames:
            self._drop_oldest_frame()
            self.dropped_frames += 1
        elif self._max_lag_s is not None and self._lag_s() > self._max_lag_s + _TOLERANCE_S:
            # Only one frame came in, and time only shrinks the lead: one out is enough.
            self._drop_oldest_frame()
            self.shed_frames += 1

    def _lag_s(self) -> float:
        return max(self._pacer.playout_end - self._clock(), 0.0) + self._queued_frames * FRAME_S

    def _in_debt(self, frame: bytes) -> bool:
        """True if `frame` is silence and would be heard over half the bound late.

        The level is measured only then: a worker that keeps up pays nothing for it.
        """
        return self._lag_s() > self._quiet_lag_s + _TOLERANCE_S and not self._voiced.reached_by(
            np.frombuffer(frame, _PCM)
        )

    def _drop_oldest_frame(self) -> None:
        # A producer far ahead of real time, a stalled socket or a stalled worker: shed the
        # oldest audio but keep marks and utterance ends, which carry no sound.
        kept: list[_QueueItem] = []
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, bytes):
                break
            kept.append(item)
        self._queue.extendleft(reversed(kept))
        self._queued_frames -= 1


def _lag_bounds(max_lag_ms: int | None, max_lead_ms: int) -> tuple[float | None, float]:
    """The lag past which the oldest audio is shed, and the one past which silence is.

    The bound leaves room for the lead and a frame (the sender keeps that much in flight on
    purpose), and silence is shed only once audio is queued beyond the lead.
    """
    if max_lag_ms is None:
        return None, 0.0
    lead_ms = max(max_lead_ms, FRAME_MS)
    bound_ms = max(max_lag_ms, lead_ms + FRAME_MS)
    return bound_ms / 1000, max(bound_ms / 2, lead_ms) / 1000


class _Batch:
    """The async context manager behind `PacedSender.batch()`."""

    __slots__ = ("_sender",)

    def __init__(self, sender: PacedSender) -> None:
        self._sender = sender

    async def __aenter__(self) -> None:
        self._sender._batching = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        sender = self._sender
        sender._batching = False
        if not sender._queue:
            return
        if exc_type is None:
            await sender._send_due()
        else:
            sender._wakeup.set()  # no sending from a task that is failing: run() takes it
