"""A call's transcript, read from Telnyx `call.transcription` webhooks.

Each webhook carries `data.payload.transcription_data = {transcript, confidence, is_final,
transcription_track}`; the `inbound` track is the person on the phone, `outbound` is what we
sent them (the agent). Interim results are revised by later ones, so only final segments
are kept.
Reference: https://developers.telnyx.com/api-reference/callbacks/call-transcription
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calls.models import CallEvent
from calls.payload_shapes import confidence as valid_confidence

TRANSCRIPTION = "call.transcription"


def format_offset(seconds: float) -> str:
    """ "+1:02.345": minutes, seconds and milliseconds after the call started."""
    sign = "-" if seconds < 0 else "+"
    millis = round(abs(seconds) * 1000)
    minutes, millis = divmod(millis, 60_000)
    return f"{sign}{minutes}:{millis // 1000:02d}.{millis % 1000:03d}"


@dataclass(frozen=True)
class Segment:
    speaker: str  # "caller" or "agent"
    text: str
    at: datetime
    offset_s: float
    confidence: float | None
    far_end: str = "Caller"  # how the person on the phone is named: "Callee" when we dialed
    seek_s: float | None = None  # where the recording has this line (calls.regions)

    @property
    def speaker_label(self) -> str:
        return self.far_end if self.speaker == "caller" else "Agent"

    @property
    def offset(self) -> str:
        return format_offset(self.offset_s)


def transcript(
    events: Iterable[CallEvent], *, start: datetime, far_end: str = "Caller"
) -> list[Segment]:
    """The final segments, in the order they were spoken; offsets count from `start`."""
    segments = [s for e in events if (s := _segment(e, start, far_end)) is not None]
    return sorted(segments, key=lambda s: s.at)


def far_end_label(direction: str) -> str:
    """The person on the phone: who called us, or whom we called."""
    return "Callee" if direction == "outbound" else "Caller"


def transcription_data(event: CallEvent) -> dict[str, Any]:
    if event.type != TRANSCRIPTION:
        return {}
    # Any level may be something other than an object in an odd payload; none may raise.
    envelope = event.payload if isinstance(event.payload, dict) else {}
    outer = envelope.get("data")
    data = outer.get("payload") if isinstance(outer, dict) else None
    found = data.get("transcription_data") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def speaker(data: dict[str, Any]) -> str:
    return "agent" if data.get("transcription_track") == "outbound" else "caller"


def _segment(event: CallEvent, start: datetime, far_end: str) -> Segment | None:
    data = transcription_data(event)
    text = str(data.get("transcript") or "").strip()
    if not text or not data.get("is_final"):
        return None
    return Segment(
        speaker=speaker(data),
        text=text,
        at=event.occurred_at,
        offset_s=(event.occurred_at - start).total_seconds(),
        confidence=valid_confidence(data.get("confidence")),  # never raises
        far_end=far_end,
    )
