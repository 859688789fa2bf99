"""What the call detail page shows, rendered as fragments its polling can swap in place."""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from calls.live_media import media_figures
from calls.models import Call
from calls.payload_shapes import recording_links
from calls.quality import call_quality, reports_quality, underrun_verdict
from calls.regions import waveform_context
from calls.timeline import call_start, timeline
from calls.transcript import far_end_label, transcript
from calls.turns import turns_context

FRAGMENTS = ("summary", "recording", "waveform", "transcript", "timeline", "media", "live")
# A long call with live transcription can log thousands of events; the page shows the first
# ones and says so, and the rest stay available in the CallEvent admin.
MAX_EVENTS = 2000
MAX_COMMANDS = 500


def status_badge(call: Call) -> SafeString:
    """The status as a coloured badge the list's polling can find and update."""
    badge = format_html(
        '<span class="pb-badge pb-status-{}" data-call-status="{}">{}</span>',
        call.status,
        call.pk,
        call.get_status_display(),
    )
    if call.simulated:
        badge += mark_safe(' <span class="pb-badge pb-simulated">simulated</span>')
    return badge


def carrier_badge(call: Call) -> SafeString:
    """Which carrier carries the call, as a badge the list and the summary share."""
    return format_html(
        '<span class="pb-badge pb-carrier pb-carrier-{}" data-call-carrier="{}">{}</span>',
        call.carrier,
        call.pk,
        call.get_carrier_display(),
    )


def clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def detail_context(call: Call) -> dict[str, Any]:
    events = list(call.events.all()[: MAX_EVENTS + 1])
    commands = list(call.commands.all()[:MAX_COMMANDS])
    truncated = len(events) > MAX_EVENTS
    events = events[:MAX_EVENTS]
    start = call_start(call, events)
    far_end = far_end_label(call.direction)
    segments = transcript(events, start=start, far_end=far_end)
    return {
        "call": call,
        "badge": status_badge(call),
        "carrier_badge": carrier_badge(call),
        "carrier": call.get_carrier_display(),
        "duration": clock(call.duration.total_seconds()) if call.duration is not None else "",
        "timeline": timeline(events, commands, start=start),
        "timeline_truncated": truncated,
        # The waveform, and the transcript with each line's place in the recording.
        **waveform_context(call, events, segments),
        "far_end": far_end,
        "recording_url": (
            reverse("admin:calls_call_recording", args=[call.pk]) if call.recording else ""
        ),
        "telnyx_recordings": recording_links(call.telnyx_recording_urls),
        "has_media_stats": bool(call.stream_id or call.frames_in or call.frames_out),
        "conversation": conversation(call),
        "turn_chart": turns_context(call.conversation, far_end=far_end),
        "call_quality": call_quality(call.call_quality_stats),
        "quality_reported": reports_quality(call.carrier),
        "underrun_verdict": underrun_verdict(call.underruns),
        "live_media": media_figures(call),
    }


def conversation(call: Call) -> dict[str, Any] | None:
    """The stored conversation summary, with each `…_ms` time also as seconds (`…_s`)."""
    if not call.conversation:
        return None
    return {
        **_with_seconds(call.conversation),
        "turns": [_with_seconds(turn) for turn in call.conversation.get("turns", [])],
    }


def _with_seconds(values: dict[str, Any]) -> dict[str, Any]:
    seconds = {
        f"{key[:-3]}_s": f"{value / 1000:.1f} s"
        for key, value in values.items()
        if key.endswith("_ms") and isinstance(value, int)
    }
    return {**values, **seconds}


def render_fragments(request: HttpRequest, context: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each fragment's HTML and a digest, so the page replaces only what changed (replacing
    the player would stop the audio, replacing the timeline would close open payloads)."""
    fragments = {}
    for name in FRAGMENTS:
        html = render_to_string(f"admin/calls/call/fragments/{name}.html", context, request)
        digest = hashlib.blake2s(html.encode(), digest_size=8).hexdigest()
        fragments[name] = {"html": html, "digest": digest}
    return fragments
