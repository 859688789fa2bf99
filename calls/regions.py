"""What happened where in a call's recording: the regions drawn over its waveform, and the
position in the recording of each transcript line and timeline row, so a click can seek.

Positions are seconds from the recording's first sample. The recording starts when the
media stream does (our `media.start` event, stored as the first frame arrived); the stored
conversation summary (telephony.media.conversation) counts from its session's start and
says where the recording begins in that count (`recording_from_ms`). Events carry wall-clock
times: a position is the event's time less the recording's start. Summaries stored before
the per-turn spans existed still give approximate regions from a turn's start, latency and
talk times.

Everything read here was stored by someone else and may be odd; nothing here raises on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from django.urls import reverse

from calls.models import Call, CallEvent
from calls.transcript import Segment, far_end_label

# A transcript webhook comes as the line is finalised, after it was spoken: a line seeks to
# the start of its side's speech that began at most this long before, else to its own time.
MAX_LINE_S = 30.0
MEDIA_DTMF, WEBHOOK_DTMF = "media.dtmf", "call.dtmf.received"


@dataclass(frozen=True)
class Region:
    kind: str  # caller, agent (speech), dtmf, barge-in, transcript
    start_s: float
    end_s: float | None  # None: a moment, not a span
    label: str
    lane: str = ""  # caller or agent: whose channel it is drawn over; "" for both

    @property
    def seek_s(self) -> float:
        return max(self.start_s, 0.0)


def recording_start(call: Call, events: Iterable[CallEvent]) -> datetime | None:
    if not call.recording:
        return None
    for event in events:
        if event.type == "media.start":
            return event.occurred_at
    # Stored before media events were kept: the nearest moment we know of.
    return call.streaming_started_at or call.answered_at or call.created_at


def waveform_context(
    call: Call, events: Sequence[CallEvent], segments: list[Segment]
) -> dict[str, Any]:
    """The waveform card's data, and the transcript with each line's place in the audio."""
    start = recording_start(call, events)
    if start is None:
        return {"recording_start": None, "waveform": None, "transcript": segments}
    far_end = far_end_label(call.direction)
    speech = speech_regions(call.conversation, far_end=far_end)
    placed = [replace(s, seek_s=_line_seek(s, start, speech)) for s in segments]
    regions = [*speech, *barge_ins(call.conversation, far_end=far_end)]
    regions += dtmf_regions(events, start)
    regions += [_transcript_region(s) for s in placed if s.seek_s is not None]
    return {
        "recording_start": start,
        "transcript": placed,
        "waveform": {
            "peaks_url": reverse("admin:calls_call_peaks", args=[call.pk]),
            "regions": [{**asdict(r), "seek_s": r.seek_s} for r in regions],
            "counts": _counts(regions),
        },
    }


def seconds_into(at: datetime, start: datetime | None) -> float | None:
    """Where `at` falls in a recording started at `start`; None before it or without one."""
    if start is None or not isinstance(at, datetime):
        return None
    seconds = (at - start).total_seconds()
    return round(seconds, 3) if seconds >= 0 else None


# Speech turns and barge-ins, from the stored conversation summary.


def speech_regions(conversation: object, *, far_end: str = "Caller") -> list[Region]:
    turns, origin = _turns(conversation)
    regions = []
    for number, turn in enumerate(turns, start=1):
        caller = _caller_span(turn)
        if caller is not None:
            first, last = ((t - origin) / 1000 for t in caller)
            text = f"Turn {number}: {far_end.lower()} spoke {last - first:.1f} s"
            regions.append(Region("caller", first, last, text, lane="caller"))
        agent = _agent_span(turn)
        if agent is not None:
            first, last = ((t - origin) / 1000 for t in agent)
            latency = stored_int(turn.get("latency_ms"))
            waited = f", answered after {latency} ms" if latency is not None else ""
            text = f"Turn {number}: agent spoke {last - first:.1f} s{waited}"
            regions.append(Region("agent", first, last, text, lane="agent"))
    return regions


def barge_ins(conversation: object, *, far_end: str = "Caller") -> list[Region]:
    turns, origin = _turns(conversation)
    regions = []
    for number, turn in enumerate(turns, start=1):
        if turn.get("barged_in") is not True:
            continue
        at = stored_int(turn.get("barged_in_at_ms"))
        if at is None:  # stored before the time was kept: the agent's audio stopped then
            span = _agent_span(turn)
            at = span[1] if span else None
        if at is not None:
            text = f"Turn {number}: the {far_end.lower()} barged in; the agent's audio was cleared"
            regions.append(Region("barge-in", (at - origin) / 1000, None, text))
    return regions


def _turns(conversation: object) -> tuple[list[dict[str, Any]], int]:
    if not isinstance(conversation, dict):
        return [], 0
    turns = conversation.get("turns")
    found = [t for t in turns if isinstance(t, dict)] if isinstance(turns, list) else []
    return found, stored_int(conversation.get("recording_from_ms")) or 0


def _caller_span(turn: dict[str, Any]) -> tuple[int, int] | None:
    first, last = stored_int(turn.get("caller_from_ms")), stored_int(turn.get("caller_to_ms"))
    if first is not None and last is not None and last > first:
        return first, last
    at, latency, talk = (stored_int(turn.get(k)) for k in ("at_ms", "latency_ms", "caller_ms"))
    if at is None or latency is None or not talk:
        return None
    # Older summaries: the caller stopped `latency` before the agent began, and talked for
    # `caller_ms` (in one stretch, as far as we can tell) before that.
    return at - latency - talk, at - latency


def _agent_span(turn: dict[str, Any]) -> tuple[int, int] | None:
    at = stored_int(turn.get("at_ms"))
    if at is None:
        return None
    last = stored_int(turn.get("agent_to_ms"))
    if last is None:
        talk = stored_int(turn.get("agent_ms"))
        last = at + talk if talk else None
    return (at, last) if last is not None and last > at else None


def stored_int(value: object) -> int | None:
    """A stored number of milliseconds as an int; None for anything else (or absurd)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or abs(value) > 10**9:  # NaN, or beyond any call's length
        return None
    return int(value)


# DTMF, from the events.


def dtmf_regions(events: Iterable[CallEvent], start: datetime) -> list[Region]:
    """One region per key press: our own media events if the stream saw any, else Telnyx's
    webhooks (both report the same presses when both are on)."""
    presses: dict[str, list[Region]] = {MEDIA_DTMF: [], WEBHOOK_DTMF: []}
    for event in events:
        if event.type not in presses:
            continue
        at = seconds_into(event.occurred_at, start)
        digit = _digit(event)
        if at is not None and digit:
            presses[event.type].append(Region("dtmf", at, None, f"DTMF {digit}"))
    return presses[MEDIA_DTMF] or presses[WEBHOOK_DTMF]


def _digit(event: CallEvent) -> str:
    payload = event.payload if isinstance(event.payload, dict) else {}
    if event.type == WEBHOOK_DTMF:
        data = payload.get("data")
        inner = data.get("payload") if isinstance(data, dict) else None
        payload = inner if isinstance(inner, dict) else {}
    digit = payload.get("digit")
    return digit[:4] if isinstance(digit, str) else ""


# Transcript lines.


def _line_seek(segment: Segment, start: datetime, speech: list[Region]) -> float | None:
    at = seconds_into(segment.at, start)
    if at is None:
        return None
    side = "caller" if segment.speaker == "caller" else "agent"
    began = [
        r.start_s
        for r in speech
        if r.kind == side and at - MAX_LINE_S <= r.start_s <= at and r.start_s >= 0
    ]
    return round(max(began), 3) if began else at


def _transcript_region(segment: Segment) -> Region:
    text = segment.text if len(segment.text) <= 80 else segment.text[:79] + "…"
    lane = "caller" if segment.speaker == "caller" else "agent"
    return Region(
        "transcript", segment.seek_s or 0.0, None, f"{segment.speaker_label}: {text}", lane
    )


def _counts(regions: list[Region]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for region in regions:
        counts[region.kind] = counts.get(region.kind, 0) + 1
    return counts
