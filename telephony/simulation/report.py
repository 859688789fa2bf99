"""What one simulated call came to, in the same terms whichever carrier carried it."""

from __future__ import annotations

from dataclasses import dataclass

from telephony.simulation.playout import MediaStats


@dataclass
class CallReport:
    call_control_id: str  # the carrier's id for the leg (Telnyx's, or a CallSid)
    direction: str
    state: str  # in the carrier's own words
    ended: bool
    answered: bool
    hangup_cause: str | None
    hangup_source: str | None
    media: list[MediaStats]
    commands: list[str]

    @property
    def outcome(self) -> str:
        if not self.ended:
            return "in_progress"
        if not self.answered:
            return self.hangup_cause or "not_answered"
        if not self.media:
            return "no_stream"
        if any(m.failed for m in self.media):
            return "stream_failed"
        if sum(m.frames_received for m in self.media) == 0:
            return "no_audio_back"
        return "ok"
