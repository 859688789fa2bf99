"""The agent's audio on its way to the phone: Stream's `audio` events -> one stateful
resampler per remote participant -> a mix at the phone's rate -> `AgentSink.agent_audio`.

Why this shape (stream-bridge.md §3.3, §5.3):
* events come one decoded Opus packet at a time (48 kHz, usually 20 ms, sometimes 10/40/60),
  one stream per remote track; a plain handler queues them and one task does the work, so
  nothing is reordered and no task is spawned per packet;
* `PcmData.resample` on 20 ms chunks is stateless and aliases (14 dB SNR); a windowed-sinc
  `StreamResampler` that keeps its state between chunks measures ~87 dB;
* two people talking at once must be summed into the same 20 ms slots, not played one after
  the other (which would garble and speed up both).

Whether the agent is speaking is decided per packet by its level, not by packets arriving: a
stock Vision Agents agent sends a packet every 20 ms in its pauses too (silence; its Opus
encoder has no DTX), while DTX publishers send none, or a quiet comfort-noise packet now and
then. A packet at or above SPEECH_DBFS is speech; HANGOVER of quiet (quiet packets, or none)
ends an utterance: the resamplers' tails are flushed and the sink is told, so the session pads
the last frame and places a mark. Quiet packets between utterances are not played. If the
caller started talking while the agent was talking and still is when the agent falls silent,
the agent yielded: the sink is told to clear what Telnyx still has queued (barge-in), before
any audio of the agent's next utterance is handed over. Speech that began before the
agent's utterance is the turn the agent is answering, not an interruption.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import getstream_rtc
import numpy as np

from telephony.bridges import AgentSink
from telephony.media.levels import AGENT_SPEECH_DBFS, Level

logger = logging.getLogger(__name__)

SLOT_MS = 20
SPEECH_DBFS = AGENT_SPEECH_DBFS  # below it, the agent's packet is silence or comfort noise
HANGOVER = 0.15  # seconds of quiet that end an utterance (mark and barge-in within 250 ms)
ACTIVE_WINDOW = 0.1  # a participant whose audio came this recently is still talking
MAX_HOLD_SLOTS = 3  # how long a talking participant's late packet may hold the mix back
QUEUE_LIMIT = 250  # audio events waiting for the sender task (5 s of 20 ms packets)

_EMPTY = np.zeros(0, dtype=np.int16)


@dataclass
class _Voice:
    """One remote participant's audio, resampled to the phone's rate, waiting to be mixed."""

    resampler: getstream_rtc.StreamResampler
    in_rate: int
    pending: np.ndarray = field(default_factory=lambda: _EMPTY)
    last_seen: float = 0.0


@dataclass
class DownlinkStats:
    events: int = 0
    dropped: int = 0
    samples_out: int = 0
    mixed_slots: int = 0
    utterances: int = 0
    barge_ins: int = 0
    participants: set[str] = field(default_factory=set)


class Downlink:
    def __init__(
        self,
        *,
        rate: int,
        sink: AgentSink,
        caller_speech_onset: Callable[[], float | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.slot = rate * SLOT_MS // 1000
        self.stats = DownlinkStats()
        self._sink = sink
        self._caller_speech_onset = caller_speech_onset
        self._clock = clock
        self._queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_LIMIT)
        self._voices: dict[str, _Voice] = {}
        self._talking = False  # inside an utterance
        self._utterance_started_at = 0.0
        self._last_voiced_at = 0.0
        self._speech = Level(SPEECH_DBFS)

    def put(self, pcm: Any) -> None:
        """The `audio` handler: a plain function, so the SDK's emit stays cheap and ordered."""
        try:
            self._queue.put_nowait(pcm)
        except asyncio.QueueFull:
            self.stats.dropped += 1

    async def run(self) -> None:
        while True:
            pcm = await self._next()
            if pcm is not None:
                self._add(pcm)
            if self._talking and self._clock() - self._last_voiced_at >= HANGOVER:
                self._end_utterance()
            else:
                self._emit()  # when no packet came: a held-back speaker may have stopped

    def interrupt(self) -> None:
        """Drop the agent audio not yet handed to the sink (the agent asked for barge-in)."""
        while not self._queue.empty():
            self._queue.get_nowait()
        for voice in self._voices.values():
            voice.resampler.flush()
            voice.pending = _EMPTY
        self._talking = False

    def forget(self, participant_key: str) -> None:
        self._voices.pop(participant_key, None)

    async def _next(self) -> Any:
        """The next audio event, or None when none came for a while during an utterance."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
        if not self._talking:
            return await self._queue.get()
        held = any(v.pending.size for v in self._voices.values())
        quiet_left = max(0.0, self._last_voiced_at + HANGOVER - self._clock())
        try:
            async with asyncio.timeout(min(ACTIVE_WINDOW, quiet_left) if held else quiet_left):
                return await self._queue.get()
        except TimeoutError:
            return None

    def _add(self, pcm: Any) -> None:
        self.stats.events += 1
        samples = _mono(pcm)
        voiced = self._speech.reached_by(samples)
        if not voiced and not self._talking:
            return  # silence or comfort noise between utterances: nothing to play
        key = participant_key(pcm.participant)
        rate = int(pcm.sample_rate)
        voice = self._voices.get(key)
        if voice is None or voice.in_rate != rate:
            # A StreamResampler keeps the rate of its first input; a new rate needs a new one.
            tail = voice.resampler.flush().samples if voice is not None else _EMPTY
            voice = _Voice(getstream_rtc.StreamResampler(self.rate, 1), rate)
            voice.pending = tail
            self._voices[key] = voice
            self.stats.participants.add(key)
        out = voice.resampler.push(samples, rate, 1)
        voice.pending = np.concatenate((voice.pending, out.samples))
        voice.last_seen = now = self._clock()
        if voiced:
            self._last_voiced_at = now
            if not self._talking:
                self._talking, self._utterance_started_at = True, now

    def _emit(self) -> None:
        with_audio = [v for v in self._voices.values() if v.pending.size]
        if not with_audio:
            return
        now = self._clock()
        talking = [v for v in self._voices.values() if now - v.last_seen < ACTIVE_WINDOW]
        if len(with_audio) == 1 and all(v is with_audio[0] for v in talking):
            # One speaker: no mixing, so no need to wait for whole slots either.
            self._send(with_audio[0].pending)
            with_audio[0].pending = _EMPTY
            return
        while True:
            held = max(v.pending.size for v in self._voices.values())
            waiting = any(v.pending.size < self.slot for v in talking)
            if held < self.slot or (waiting and held < MAX_HOLD_SLOTS * self.slot):
                return
            self._send(self._mix_slot())

    def _mix_slot(self) -> np.ndarray:
        mix = np.zeros(self.slot, dtype=np.int32)
        for voice in self._voices.values():
            if voice.pending.size >= self.slot:
                mix += voice.pending[: self.slot]
                voice.pending = voice.pending[self.slot :]
        self.stats.mixed_slots += 1
        return np.clip(mix, -32768, 32767).astype(np.int16)

    def _end_utterance(self) -> None:
        self._talking = False
        for voice in self._voices.values():
            voice.pending = np.concatenate((voice.pending, voice.resampler.flush().samples))
        onset = self._caller_speech_onset()
        if onset is not None and self._utterance_started_at <= onset < self._last_voiced_at:
            # The caller started talking over the agent, and the agent stopped: it yielded.
            for voice in self._voices.values():
                voice.pending = _EMPTY
            self.stats.barge_ins += 1
            self._sink.interrupt()
            return
        tail = _mix_all([v.pending for v in self._voices.values()])
        for voice in self._voices.values():
            voice.pending = _EMPTY
        if tail.size:
            self._send(tail)
        self.stats.utterances += 1
        self._sink.agent_utterance_end()

    def _send(self, samples: np.ndarray) -> None:
        if samples.size:
            self.stats.samples_out += samples.size
            self._sink.agent_audio(samples, self.rate)


def participant_key(participant: Any) -> str:
    """One audio stream per participant session (a user may join twice)."""
    if participant is None:
        return "?"
    return f"{participant.user_id}/{getattr(participant, 'session_id', '')}"


def _mono(pcm: Any) -> np.ndarray:
    samples = np.asarray(pcm.samples)
    channels = int(pcm.channels or 1)
    if samples.ndim == 2:  # planar (channels, n) or (n, channels)
        axis = 0 if samples.shape[0] == channels else 1
        samples = samples.mean(axis=axis)
    elif channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.int16)


def _mix_all(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if p.size]
    if len(parts) <= 1:
        return parts[0] if parts else _EMPTY
    mix = np.zeros(max(p.size for p in parts), dtype=np.int32)
    for part in parts:
        mix[: part.size] += part
    return np.clip(mix, -32768, 32767).astype(np.int16)
