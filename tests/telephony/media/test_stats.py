from __future__ import annotations

import pytest

from telephony.media.codecs import get_codec
from telephony.media.pacing import PacedSender
from telephony.media.reorder import ReorderBuffer
from telephony.media.stats import InboundStats, call_fields


async def _send(frame: object) -> None:
    pass


def test_inbound_stats_time_the_first_frame_from_start_and_the_largest_gap():
    stats = InboundStats(started_at=100.0)
    for now in (100.25, 100.27, 100.35, 100.37):
        stats.note_frame(160, now)
    assert stats.first_frame_ms == pytest.approx(250)
    assert stats.max_gap_ms == pytest.approx(80)
    assert (stats.frames, stats.bytes) == (4, 640)


def test_bad_frames_are_counted_by_reason():
    stats = InboundStats()
    for reason in ("bad_base64", "malformed_json", "bad_base64"):
        stats.note_bad(reason)
    assert stats.malformed == 3
    assert stats.bad_reasons == {"bad_base64": 2, "malformed_json": 1}


def test_call_fields_before_any_start_leave_the_format_and_timings_empty():
    fields = call_fields(
        stream_id="",
        codec=None,
        inbound=InboundStats(),
        reorder=ReorderBuffer(),
        sender=PacedSender(_send, get_codec("PCMU")),
    )
    assert (fields["media_encoding"], fields["media_sample_rate"]) == ("", None)
    assert fields["first_inbound_ms"] is fields["first_outbound_ms"] is None
    assert fields["max_inbound_gap_ms"] is fields["max_lead_ms"] is None


def test_call_fields_cap_a_missing_count_no_column_could_hold():
    # Jumps a real stream makes are never this large: add up many smaller ones instead.
    reorder: ReorderBuffer[bytes] = ReorderBuffer(window=0, max_jump=10**20)
    reorder.push(1, b"")
    reorder.push(10**20, b"")
    fields = call_fields(
        stream_id="s",
        codec=get_codec("PCMA"),
        inbound=InboundStats(),
        reorder=reorder,
        sender=PacedSender(_send, get_codec("PCMU")),
    )
    assert fields["frames_missing"] == 2**31 - 1
    assert (fields["media_encoding"], fields["media_sample_rate"]) == ("PCMA", 8000)
