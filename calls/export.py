"""Calls as CSV, for spreadsheets and for whoever asks "what happened in yesterday's campaign"."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from calls.models import Call

# Caller ids come from the carrier and are not ours to trust: a cell that starts with one of
# these is a formula to Excel and LibreOffice (OWASP "CSV injection"), unless it is a number.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d .()-]*$")


def _duration(call: Call) -> str:
    return f"{call.duration.total_seconds():.1f}" if call.duration is not None else ""


def _conversation(key: str) -> Callable[[Call], Any]:
    """A figure of the call's conversation summary (blank for a call without one)."""
    return lambda call: (call.conversation or {}).get(key)


COLUMNS: list[tuple[str, Callable[[Call], Any]]] = [
    ("id", lambda c: c.pk),
    ("direction", lambda c: c.direction),
    ("status", lambda c: c.status),
    ("from", lambda c: c.from_number),
    ("to", lambda c: c.to_number),
    ("simulated", lambda c: c.simulated),
    ("call_control_id", lambda c: c.call_control_id or ""),
    ("call_leg_id", lambda c: c.call_leg_id),
    ("call_session_id", lambda c: c.call_session_id),
    ("created_at", lambda c: c.created_at),
    ("answered_at", lambda c: c.answered_at),
    ("ended_at", lambda c: c.ended_at),
    ("duration_s", _duration),
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
]


def csv_response(calls: Iterable[Call]) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow([name for name, _ in COLUMNS])
    for call in calls:
        writer.writerow([cell(value(call)) for _, value in COLUMNS])
    return response


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text
