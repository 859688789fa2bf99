"""A media stream's statistics: what came in, and what is kept of them at the end.

The session counts as frames arrive (`InboundStats`) and, once the stream ends, stores the
figures in two places: the call's own media columns (`call_fields`, also counted by the
Prometheus metrics) and a `media.stop` event holding those and the finer detail
(`stop_details`), and the conversation's summary (telephony.media.conversation) in the call's
`conversation` column. Nothing here touches the database per frame.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from calls import sql
from calls.models import Call, CallEvent
from telephony import metrics
from telephony.bridges import Bridge
from telephony.media.codecs import Codec
from telephony.media.conversation import Conversation
from telephony.media.pacing import PacedSender
from telephony.media.reorder import ReorderBuffer

_MAX_COUNTER = 2**31 - 1  # the largest value of the call's integer columns


@dataclass
class InboundStats:
    frames: int = 0
    bytes: int = 0
    other_track: int = 0
    malformed: int = 0
    unknown_events: int = 0
    carrier_errors: int = 0
    max_gap_ms: float = 0.0
    started_at: float | None = None  # when `start` came, on the session's clock
    first_frame_ms: float | None = None  # after `start`
    last_arrival: float | None = None
    bad_reasons: dict[str, int] = field(default_factory=dict)
    audio_s: float = 0.0  # of caller audio taken, to hold it to the call's clock
    early: int = 0  # frames dropped for running ahead of it

    def on_time(self, duration_s: float, now: float, allowance_s: float) -> bool:
        """Whether a frame of `duration_s` arriving at `now` keeps the caller's audio within
        `allowance_s` of the time since `start`; if not, it is counted as early.

        A carrier sends audio in real time: what runs further ahead is a peer flooding us,
        and taking it would make the recording (and the bridge) outrun the call.
        """
        audio = self.audio_s + duration_s
        if self.started_at is not None and audio - (now - self.started_at) > allowance_s:
            self.early += 1
            return False
        self.audio_s = audio
        return True

    def note_frame(self, size: int, now: float) -> None:
        """An inbound audio frame of `size` bytes arrived at `now`."""
        if self.last_arrival is not None:
            self.max_gap_ms = max(self.max_gap_ms, (now - self.last_arrival) * 1000)
        elif self.started_at is not None:
            self.first_frame_ms = (now - self.started_at) * 1000
        self.last_arrival = now
        self.frames += 1
        self.bytes += size

    def note_bad(self, reason: str) -> None:
        self.malformed += 1
        self.bad_reasons[reason] = self.bad_reasons.get(reason, 0) + 1


def call_fields(
    *,
    stream_id: str,
    codec: Codec | None,
    inbound: InboundStats,
    reorder: ReorderBuffer[bytes],
    sender: PacedSender,
    events_dropped: int = 0,
) -> dict[str, Any]:
    """The stream's figures, by the name of the Call column each is stored in."""
    first_out = None
    if sender.first_send_at is not None and inbound.started_at is not None:
        first_out = round((sender.first_send_at - inbound.started_at) * 1000)
    return {
        "stream_id": stream_id,
        "media_encoding": codec.name if codec else "",
        "media_sample_rate": codec.sample_rate if codec else None,
        "frames_in": inbound.frames,
        "bytes_in": inbound.bytes,
        "frames_out": sender.frames_sent,
        "bytes_out": sender.bytes_sent,
        "frames_missing": min(reorder.missing, _MAX_COUNTER),  # sequence numbers may jump
        "frames_late": reorder.late,
        "frames_duplicate": reorder.duplicate,
        "frames_malformed": inbound.malformed,
        "max_inbound_gap_ms": round(inbound.max_gap_ms) if inbound.last_arrival else None,
        "underruns": sender.underruns,
        "max_lead_ms": round(sender.max_lead_seen_ms) if sender.frames_sent else None,
        "first_inbound_ms": _rounded(inbound.first_frame_ms),
        "first_outbound_ms": first_out,
        "frames_shed": min(sender.shed_frames, _MAX_COUNTER),
        "frames_early": min(inbound.early, _MAX_COUNTER),
        "media_events_dropped": min(events_dropped, _MAX_COUNTER),
    }


def stop_details(
    *,
    reason: str,
    fields: dict[str, Any],
    inbound: InboundStats,
    sender: PacedSender,
    barge_ins: int,
    bridge: Bridge,
) -> dict[str, Any]:
    """The payload of the call's `media.stop` event: `fields` and the finer detail."""
    return {
        "reason": reason,
        **fields,
        "barge_ins": barge_ins,
        "cleared_frames": sender.cleared_frames,
        "dropped_frames": sender.dropped_frames,
        "bad_frames": inbound.bad_reasons,
        "unknown_events": inbound.unknown_events,
        "telnyx_errors": inbound.carrier_errors,  # the stored name predates other carriers
        "marks_played": len(sender.played_marks),
        "bridge": {"name": bridge.name, **bridge.describe()},
    }


def save(
    call_id: uuid.UUID,
    *,
    fields: dict[str, Any],
    details: dict[str, Any],
    conversation: Conversation | None = None,
) -> None:
    """Store the statistics on the call and as its `media.stop` event (synchronous ORM)."""
    metrics.record_media(fields)
    if conversation is not None:
        metrics.record_conversation(
            latencies=conversation.latencies_s, barge_in_reactions=conversation.barge_in_reactions_s
        )
        fields = {**fields, "conversation": conversation.summary()}
    sql.update(Call, call_id, {**fields, "last_activity_at": timezone.now()})
    CallEvent.note(call_id, source=CallEvent.Source.MEDIA, type="media.stop", payload=details)


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)
