"""How the conversation went, measured at the phone: turns, latency, talk, interruptions.

The session hands over each decoded caller frame as it arrives and each agent frame as it
leaves for the carrier; speech on either side is told by level, so this works for any bridge.
A turn opens when the agent starts talking after the caller spoke (or greets first) and
holds the agent's speech until the caller speaks again. Its latency is how long the caller
waited: from the end of their speech to the first audible agent frame sent, 0 when the agent
started while the caller was still talking (an interruption by the agent). A long silence is
one over LONG_SILENCE_S that someone broke: the quiet before a hang-up is not dead air. All
on the session's clock; nothing here touches the database.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from telephony.media.levels import (
    AGENT_SPEECH_DBFS,
    CALLER_SPEECH_DBFS,
    HANGOVER_MS,
    ONSET_MS,
    Level,
)

# The caller's speech as the bridges' barge-in detector sees it (telephony.bridges.vad).
LONG_SILENCE_S = 3.0
TALKING_GAP_S = 0.1  # the caller's last voiced audio this recent: they are still talking
MAX_TURNS = 100  # stored per call; the totals count every turn
_ONSET_S = ONSET_MS / 1000
_HANGOVER_S = HANGOVER_MS / 1000 - 1e-6  # float rounding of frame times


class _Speech:
    """One side's speech by level: a stretch starts after `onset_s` of voiced audio (dated
    from its first voiced frame) and ends `hangover_s` after the last (dated at its end)."""

    __slots__ = ("_level", "_onset_s", "_run_start", "last_voiced_end", "start")

    def __init__(self, *, threshold_dbfs: float, onset_s: float) -> None:
        self._level = Level(threshold_dbfs)
        self._onset_s = onset_s - 1e-6  # float rounding, as for the hangover
        self._run_start: float | None = None
        self.start: float | None = None  # of the current stretch, None when quiet
        self.last_voiced_end = 0.0

    def voiced(self, samples: np.ndarray) -> bool:
        return self._level.reached_by(samples)

    def update(self, voiced: bool, now: float, duration: float) -> bool:
        """Note a frame covering [now, now + duration]; return True if a stretch began."""
        if not voiced:
            self._run_start = None
            return False
        if self._run_start is None:
            self._run_start = now
        self.last_voiced_end = now + duration
        if self.start is None and self.last_voiced_end - self._run_start >= self._onset_s:
            self.start = self._run_start
            return True
        return False

    def talking(self, now: float) -> bool:
        """Voiced audio this recent, in a stretch or one not yet long enough to be one."""
        busy = self.start is not None or self._run_start is not None
        return busy and now - self.last_voiced_end < TALKING_GAP_S

    def ended(self, now: float) -> float | None:
        """The start of the current stretch, once, when it has been quiet for the hangover."""
        start = self.start
        if start is None or now - self.last_voiced_end < _HANGOVER_S:
            return None
        self.start = self._run_start = None  # the agent sends no frames in its pauses
        return start


@dataclass
class Turn:
    at_ms: int  # when the agent started, from the start of the stream
    latency_ms: int | None  # None: the agent spoke first
    caller_ms: int = 0  # the caller's talk that the agent answered
    agent_ms: int = 0
    agent_interrupted: bool = False  # the agent started while the caller talked
    barged_in: bool = False  # the caller interrupted the agent
    # Where each side's speech lies, from the start of the stream, for the console's waveform
    # regions: the caller's talk this turn answered (None when the agent spoke first), the
    # end of the agent's last audible frame, and the first barge-in's clear.
    caller_from_ms: int | None = None
    caller_to_ms: int | None = None
    agent_to_ms: int | None = None
    barged_in_at_ms: int | None = None


class Conversation:
    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._began = clock()
        self._caller = _Speech(threshold_dbfs=CALLER_SPEECH_DBFS, onset_s=_ONSET_S)
        self._agent = _Speech(threshold_dbfs=AGENT_SPEECH_DBFS, onset_s=0.0)
        self._quiet_since: float | None = self._began  # neither talks since then
        self._caller_ms_pending = 0.0  # caller talk not yet answered by a turn
        self._caller_spoke = False  # since the current turn opened
        self._caller_from: float | None = None  # the first unanswered caller talk began
        self._first_caller_frame: float | None = None  # the recording's first sample
        self._over_agent_at: float | None = None  # the caller started over the agent then
        self._turn: Turn | None = None
        self.turns: list[Turn] = []
        self.turn_count = 0
        self.latencies_s: list[float] = []
        self.barge_in_reactions_s: list[float] = []
        self.caller_talk_s = 0.0
        self.agent_talk_s = 0.0
        self.caller_interruptions = 0
        self.agent_interruptions = 0
        self.long_silences = 0
        self.longest_silence_s = 0.0

    # Fed by the session (hot path: a level and a few comparisons per frame).

    def caller_frame(self, samples: np.ndarray, rate: int) -> None:
        now = self._clock()
        if self._first_caller_frame is None:
            self._first_caller_frame = now
        if (start := self._agent.ended(now)) is not None:  # its frames stop when it does
            self._add_agent_talk(start)
        caller = self._caller
        if caller.update(caller.voiced(samples), now, len(samples) / rate):
            self._caller_started(caller.start or now)
        if (start := caller.ended(now)) is not None:
            self._caller_ended(start)

    def agent_frame(self, pcm: np.ndarray, rate: int) -> None:
        now = self._clock()
        agent = self._agent
        if agent.update(agent.voiced(pcm), now, len(pcm) / rate):
            self._agent_started(now)

    def interrupted(self) -> None:
        """The caller barged in: the agent's queued audio was cleared now."""
        now = self._clock()
        self.caller_interruptions += 1
        if self._over_agent_at is not None:
            self.barge_in_reactions_s.append(now - self._over_agent_at)
            self._over_agent_at = None
        if self._turn is not None:
            if not self._turn.barged_in:
                self._turn.barged_in_at_ms = _ms(now - self._began)
            self._turn.barged_in = True
        agent = self._agent
        if agent.start is not None:  # what was still queued at the carrier is not heard
            start, agent.start = agent.start, None
            agent.last_voiced_end = min(agent.last_voiced_end, now)
            self._add_agent_talk(start)

    def finish(self) -> None:
        now = self._clock() + 1.0  # whatever was still being said has ended
        if (start := self._caller.ended(now)) is not None:
            self._caller_ended(start)
        if (start := self._agent.ended(now)) is not None:
            self._add_agent_talk(start)
        self._close_turn()

    # Stretches starting and ending.

    def _caller_started(self, start: float) -> None:
        self._silence_ends(start)
        agent_start = self._agent.start
        # The stretch is dated from its first voiced frame: an agent that started since then
        # talked over the caller, not the other way round.
        if agent_start is not None and agent_start < start and self._over_agent_at is None:
            self._over_agent_at = start

    def _caller_ended(self, start: float) -> None:
        end = self._caller.last_voiced_end
        self.caller_talk_s += end - start
        self._caller_ms_pending += end - start
        if self._caller_from is None:
            self._caller_from = start
        self._caller_spoke = True
        self._silence_begins(end)

    def _agent_started(self, now: float) -> None:
        self._silence_ends(now)
        caller = self._caller
        over_caller = caller.talking(now)
        if over_caller:
            self.agent_interruptions += 1
        elif caller.start is not None:  # paused, within the hangover: the agent took it as done
            start, caller.start = caller.start, None
            self._caller_ended(start)
        if self._turn is not None and not self._caller_spoke and not over_caller:
            return  # the agent goes on after a pause of its own: the same turn
        self._close_turn()
        latency = None
        if over_caller:
            latency = 0.0
        elif self._caller_spoke:
            latency = max(now - caller.last_voiced_end, 0.0)
        if latency is not None:
            self.latencies_s.append(latency)
        self._turn = Turn(
            at_ms=_ms(now - self._began),
            latency_ms=None if latency is None else _ms(latency),
            caller_ms=_ms(self._caller_ms_pending),
            agent_interrupted=over_caller,
        )
        self._turn.caller_from_ms, self._turn.caller_to_ms = self._caller_span()
        self._caller_ms_pending = 0.0
        self._caller_from = None
        self._caller_spoke = False

    def _add_agent_talk(self, start: float) -> None:
        end = self._agent.last_voiced_end
        talk = max(end - start, 0.0)
        self.agent_talk_s += talk
        if self._turn is not None:
            self._turn.agent_ms += _ms(talk)
            self._turn.agent_to_ms = _ms(end - self._began)
        self._over_agent_at = None
        self._silence_begins(end)

    def _caller_span(self) -> tuple[int | None, int | None]:
        """The caller's talk the opening turn answers; an agent talking over the caller
        answers a stretch still going on, so it runs from its start to its latest frame."""
        start = self._caller_from if self._caller_from is not None else self._caller.start
        if start is None:
            return None, None
        return _ms(start - self._began), _ms(self._caller.last_voiced_end - self._began)

    def _close_turn(self) -> None:
        if self._turn is None:
            return
        self.turn_count += 1
        if len(self.turns) < MAX_TURNS:
            self.turns.append(self._turn)
        self._turn = None

    def _silence_begins(self, at: float) -> None:
        if self._caller.start is None and self._agent.start is None:
            self._quiet_since = max(at, self._quiet_since or at)

    def _silence_ends(self, at: float) -> None:
        if self._quiet_since is None:
            return
        silence = at - self._quiet_since
        self._quiet_since = None
        if silence > LONG_SILENCE_S:
            self.long_silences += 1
        self.longest_silence_s = max(self.longest_silence_s, silence)

    # The summary stored with the call.

    def summary(self) -> dict[str, object]:
        latencies = self.latencies_s
        return {
            "turn_count": self.turn_count,
            "latency_p50_ms": _ms(statistics.median(latencies)) if latencies else None,
            "latency_max_ms": _ms(max(latencies)) if latencies else None,
            "caller_talk_ms": _ms(self.caller_talk_s),
            "agent_talk_ms": _ms(self.agent_talk_s),
            "caller_interruptions": self.caller_interruptions,
            "agent_interruptions": self.agent_interruptions,
            "long_silences": self.long_silences,
            "longest_silence_ms": _ms(self.longest_silence_s),
            # The recording starts with the caller's first frame: the turns' times less this
            # are positions in it (the recording runs on the caller's audio, which arrives
            # in real time, so the two clocks agree to within the network's jitter).
            "recording_from_ms": (
                None
                if self._first_caller_frame is None
                else _ms(self._first_caller_frame - self._began)
            ),
            "turns": [asdict(turn) for turn in self.turns],
        }


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
