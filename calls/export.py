"""Calls as CSV, for spreadsheets and for whoever asks "what happened in yesterday's campaign".

The export is streamed: rows are read in chunks (`.iterator(chunk_size)`) and written as they
come, so exporting a whole filtered history costs one chunk of memory, not the whole table.
Transcripts are read once per chunk (one query for the chunk's calls), never once per call.
Under ASGI the body is an async iterator: Django would otherwise read a synchronous one to
the end before sending a byte.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from calls.models import Call, CallEvent
from calls.transcript import TRANSCRIPTION, far_end_label, transcript

# Caller ids come from the carrier and are not ours to trust: a cell that starts with one of
# these is a formula to Excel and LibreOffice (OWASP "CSV injection"), unless it is a number.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d .()-]*$")
CHUNK_SIZE = 500


class Row:
    """One call and what the export reads beside it (its transcript, the page's host)."""

    def __init__(self, call: Call, lines: list[str], base_url: str) -> None:
        self.call, self.lines, self.base_url = call, lines, base_url


def _duration(call: Call) -> str:
    return f"{call.duration.total_seconds():.1f}" if call.duration is not None else ""


def _seconds(delta: timedelta | None) -> str:
    return f"{delta.total_seconds():.1f}" if delta is not None else ""


def _conversation(key: str) -> Callable[[Call], Any]:
    """A figure of the call's conversation summary (blank for a call without one)."""
    return lambda call: (call.conversation or {}).get(key)


def _number(value: Any) -> float | None:
    """Telnyx sends quality figures as strings, or null; anything else is no figure."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _quality(direction: str, key: str) -> Callable[[Call], Any]:
    def figure(call: Call) -> Any:
        stats = call.call_quality_stats if isinstance(call.call_quality_stats, dict) else {}
        side = stats.get(direction)
        return _number(side.get(key)) if isinstance(side, dict) else None

    return figure


def _loss_percent(direction: str) -> Callable[[Call], Any]:
    """Packets skipped out of packets counted, as Telnyx reports them per direction."""

    def loss(call: Call) -> str:
        packets = _quality(direction, "packet_count")(call)
        skipped = _quality(direction, "skip_packet_count")(call)
        if not packets or skipped is None:
            return ""
        return f"{100 * skipped / packets:.2f}"

    return loss


def _carrier_recording(call: Call) -> str:
    """The first https URL the carrier gave for a recording of the call (Twilio's are kept
    in the same field as Telnyx's, telephony.twilio.handlers.on_recording_completed)."""
    for entry in call.telnyx_recording_urls if isinstance(call.telnyx_recording_urls, list) else []:
        urls = entry.get("urls") if isinstance(entry, dict) else None
        for url in (urls or {}).values() if isinstance(urls, dict) else ():
            if isinstance(url, str) and url.startswith("https://"):
                return url
    return ""


CALL_COLUMNS: list[tuple[str, Callable[[Call], Any]]] = [
    ("id", lambda c: c.pk),
    ("direction", lambda c: c.direction),
    ("carrier", lambda c: c.carrier),
    ("status", lambda c: c.status),
    ("from", lambda c: c.from_number),
    ("to", lambda c: c.to_number),
    ("simulated", lambda c: c.simulated),
    # The carrier's id for the leg: Telnyx's call_control_id, or Twilio's CallSid.
    ("call_control_id", lambda c: c.call_control_id or ""),
    ("call_leg_id", lambda c: c.call_leg_id),
    ("call_session_id", lambda c: c.call_session_id),
    ("created_at", lambda c: c.created_at),
    ("answered_at", lambda c: c.answered_at),
    ("ringing_at", lambda c: c.ringing_at),
    ("ended_at", lambda c: c.ended_at),
    ("duration_s", _duration),
    ("ring_time_s", lambda c: _seconds(c.ring_time)),
    ("post_dial_delay_s", lambda c: _seconds(c.post_dial_delay)),
    ("outcome", lambda c: c.story),
    ("hangup_cause", lambda c: c.hangup_cause),
    ("hangup_source", lambda c: c.hangup_source),
    ("sip_hangup_cause", lambda c: c.sip_hangup_cause),
    ("failure_reason", lambda c: c.failure_reason),
    ("amd_result", lambda c: c.amd_result),
    ("bridge", lambda c: c.bridge),
    ("bridge_status", lambda c: c.bridge_status),
    ("bridge_error", lambda c: c.bridge_error),
    ("bridge_join_ms", lambda c: c.bridge_join_ms),
    ("frames_in", lambda c: c.frames_in),
    ("frames_out", lambda c: c.frames_out),
    ("bytes_in", lambda c: c.bytes_in),
    ("bytes_out", lambda c: c.bytes_out),
    ("frames_missing", lambda c: c.frames_missing),
    ("frames_late", lambda c: c.frames_late),
    ("frames_duplicate", lambda c: c.frames_duplicate),
    ("frames_malformed", lambda c: c.frames_malformed),
    ("max_inbound_gap_ms", lambda c: c.max_inbound_gap_ms),
    ("underruns", lambda c: c.underruns),
    ("max_lead_ms", lambda c: c.max_lead_ms),
    ("first_inbound_ms", lambda c: c.first_inbound_ms),
    ("first_outbound_ms", lambda c: c.first_outbound_ms),
    ("has_recording", lambda c: bool(c.recording)),
    ("turns", _conversation("turn_count")),
    ("turn_latency_p50_ms", _conversation("latency_p50_ms")),
    ("turn_latency_max_ms", _conversation("latency_max_ms")),
    ("caller_talk_ms", _conversation("caller_talk_ms")),
    ("agent_talk_ms", _conversation("agent_talk_ms")),
    ("caller_interruptions", _conversation("caller_interruptions")),
    ("agent_interruptions", _conversation("agent_interruptions")),
    ("long_silences", _conversation("long_silences")),
    ("mos_inbound", _quality("inbound", "mos")),
    ("jitter_max_variance_inbound", _quality("inbound", "jitter_max_variance")),
    ("packet_loss_inbound_pct", _loss_percent("inbound")),
    ("packet_loss_outbound_pct", _loss_percent("outbound")),
    # The carrier's own recording of the call (Telnyx's or Twilio's, per `carrier`).
    ("carrier_recording_url", _carrier_recording),
]

COLUMNS: list[tuple[str, Callable[[Row], Any]]] = [
    *((name, lambda row, value=value: value(row.call)) for name, value in CALL_COLUMNS),
    ("recording_url", lambda row: _recording_url(row)),
    ("transcript", lambda row: "\n".join(row.lines)),
]


def _recording_url(row: Row) -> str:
    if not row.call.recording:
        return ""
    return row.base_url + reverse("admin:calls_call_recording", args=[row.call.pk])


def csv_response(request: HttpRequest, calls: Iterable[Call]) -> StreamingHttpResponse:
    """`calls` as a CSV download, streamed. Pass a queryset's `.iterator(chunk_size)`."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    lines = csv_lines(calls, base_url=request.build_absolute_uri("/").rstrip("/"))
    body = _async_lines(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
    return response


def export_changelist(model_admin: ModelAdmin[Call], request: HttpRequest) -> HttpResponseBase:
    """Every call the list shows with the request's filters, search and order, not one page:
    the admin's own ChangeList builds the queryset, so the export cannot drift from the page."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        changelist = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        messages.error(request, "Those filters are not valid; nothing was exported.")
        return redirect("admin:calls_call_changelist")
    calls = changelist.queryset.iterator(chunk_size=CHUNK_SIZE)
    return csv_response(request, calls)


class _Line:
    """csv.writer writes into this and we hand each line on (Django's streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(calls: Iterable[Call], *, base_url: str = "") -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow([name for name, _ in COLUMNS])
    iterator = iter(calls)
    while chunk := list(islice(iterator, CHUNK_SIZE)):
        transcripts = _transcripts(chunk)
        for call in chunk:
            row = Row(call, transcripts.get(call.pk, []), base_url)
            yield writer.writerow([cell(value(row)) for _, value in COLUMNS])


def _transcripts(calls: list[Call]) -> dict[Any, list[str]]:
    """Each call's final transcript lines ("Caller: …"), from one query for the chunk."""
    events: dict[Any, list[CallEvent]] = {}
    rows = CallEvent.objects.filter(call_id__in=[c.pk for c in calls], type=TRANSCRIPTION)
    for event in rows.order_by("occurred_at", "id"):
        events.setdefault(event.call_id, []).append(event)
    by_id = {call.pk: call for call in calls}
    return {pk: _lines(by_id[pk], found) for pk, found in events.items()}


def _lines(call: Call, events: list[CallEvent]) -> list[str]:
    far_end = far_end_label(call.direction)
    segments = transcript(events, start=call.created_at, far_end=far_end)
    return [f"{segment.speaker_label}: {segment.text}" for segment in segments]


async def _async_lines(lines: Iterator[str]) -> AsyncIterator[str]:
    # Database reads stay on Django's one sync thread for this request (thread_sensitive),
    # where the queryset's cursor lives; each step reads at most one chunk.
    step = sync_to_async(lambda: list(islice(lines, CHUNK_SIZE)), thread_sensitive=True)
    while batch := await step():
        for line in batch:
            yield line


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()  # TIME_ZONE, with its UTC offset
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text
