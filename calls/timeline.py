"""One call's history as a single timeline: webhooks, media events, state changes and the
commands we sent, in time order, each with its offset from the start of the call.

Telnyx's webhook payloads are its full envelope; the interesting part is `data.payload`.
Twilio's are the callback's form parameters, stored as `{"params": {...}}`
(telephony.twilio.handlers); their events read in plain words ("Twilio: ringing",
"completed (CallDuration 12 s)"), in calls/twilio_timeline.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calls.models import Call, CallEvent, CarrierCommand
from calls.redaction import redact, redact_text
from calls.transcript import format_offset, speaker, transcription_data
from calls.twilio_timeline import twilio_command_error, twilio_event_words


@dataclass(frozen=True)
class Entry:
    at: datetime
    offset_s: float
    kind: str  # webhook, media, state, system, dtmf or command
    title: str
    detail: str = ""
    failed: bool = False
    key: str = ""  # stable across renders, so the page can keep open payloads open
    event_id: int | None = None  # the CallEvent whose raw payload can be shown on demand
    request_json: str = ""  # a command's request body, pretty-printed

    @property
    def offset(self) -> str:
        return format_offset(self.offset_s)


def timeline(
    events: Iterable[CallEvent], commands: Iterable[CarrierCommand], *, start: datetime
) -> list[Entry]:
    entries = [_from_event(e, start) for e in events]
    entries += [_from_command(c, start) for c in commands]
    return sorted(entries, key=lambda e: e.at)


def call_start(call: Call, events: Iterable[CallEvent]) -> datetime:
    # Telnyx stamps call.initiated a moment before we create the row for an inbound call;
    # starting at the earlier of the two keeps every offset positive.
    return min([call.created_at, *(e.occurred_at for e in events)])


def _from_event(event: CallEvent, start: datetime) -> Entry:
    payload = _inner(event)
    if event.source == CallEvent.Source.STATE:
        status = str(event.payload.get("status") or event.type.removeprefix("state."))
        title, detail = f"Status → {status}", ""
    elif (words := twilio_event_words(event.type, payload)) is not None:
        title, detail = words
    else:
        title, detail = event.type, _describe(event, payload)
    kind = "dtmf" if "dtmf" in event.type else event.source
    return Entry(
        at=event.occurred_at,
        offset_s=(event.occurred_at - start).total_seconds(),
        kind=kind,
        title=title,
        detail=redact_text(detail),
        failed=event.type.endswith((".failed", "-error")),
        key=f"event-{event.pk}",
        event_id=event.pk,
    )


def _from_command(command: CarrierCommand, start: datetime) -> Entry:
    return Entry(
        at=command.created_at,
        offset_s=(command.created_at - start).total_seconds(),
        kind="command",
        title=f"→ {command.name}",
        detail=redact_text(_command_outcome(command)),
        failed=not command.ok and command.finished_at is not None,
        key=f"command-{command.pk}",
        request_json=json.dumps(redact(command.request_body), indent=2, sort_keys=True),
    )


def _command_outcome(command: CarrierCommand) -> str:
    carrier = command.get_carrier_display()
    twilio = command.carrier == Call.Carrier.TWILIO
    # Twilio has no command id: its request's method and path say what was asked of it.
    asked = f"{command.method} {command.path}: " if twilio else ""
    if command.finished_at is None:
        return f"{asked}sent, waiting for {carrier}"
    tries = f"{command.attempts} attempt{'s' if command.attempts != 1 else ''}"
    took = f"HTTP {command.status_code or '—'} in {command.latency_ms or 0} ms, {tries}"
    if command.ok:
        return f"{asked}{took}"
    if twilio:
        return f"{asked}{twilio_command_error(command)} ({took})"
    error = " ".join(part for part in (command.error_code, command.error_title) if part)
    text = f"{carrier} error {error}" if error else "Failed"
    if command.error_detail:
        text += f": {command.error_detail}"
    return f"{text} ({took})"


def _inner(event: CallEvent) -> dict[str, Any]:
    if event.source != CallEvent.Source.WEBHOOK:
        return event.payload if isinstance(event.payload, dict) else {}
    if event.type.startswith("twilio."):
        params = event.payload.get("params") if isinstance(event.payload, dict) else None
        return params if isinstance(params, dict) else {}
    data = event.payload.get("data") if isinstance(event.payload, dict) else None
    inner = data.get("payload") if isinstance(data, dict) else None
    return inner if isinstance(inner, dict) else {}


def _describe(event: CallEvent, payload: dict[str, Any]) -> str:
    describe = _DESCRIBERS.get(event.type)
    if describe is not None:
        return describe(event, payload)
    if event.source == CallEvent.Source.WEBHOOK:
        return ""
    # Media and system events are our own small dicts: show their simple values.
    simple = [f"{k}={v}" for k, v in payload.items() if isinstance(v, str | int | float | bool)]
    return ", ".join(simple[:8])


def _initiated(event: CallEvent, p: dict[str, Any]) -> str:
    return f"{p.get('from', '?')} → {p.get('to', '?')} ({p.get('direction', '?')})"


def _hangup(event: CallEvent, p: dict[str, Any]) -> str:
    parts = [f"cause {p.get('hangup_cause') or '—'}", f"by {p.get('hangup_source') or '—'}"]
    if p.get("sip_hangup_cause"):
        parts.append(f"SIP {p['sip_hangup_cause']}")
    return ", ".join(parts)


def _transcription(event: CallEvent, p: dict[str, Any]) -> str:
    data = transcription_data(event)
    final = "" if data.get("is_final") else " (interim)"
    return f"{speaker(data)}: {data.get('transcript', '')}{final}"


def _field(name: str, label: str) -> Callable[[CallEvent, dict[str, Any]], str]:
    return lambda event, p: f"{label} {p[name]}" if p.get(name) not in (None, "") else ""


_DESCRIBERS: dict[str, Callable[[CallEvent, dict[str, Any]], str]] = {
    "call.initiated": _initiated,
    "call.hangup": _hangup,
    "call.transcription": _transcription,
    "call.dtmf.received": _field("digit", "digit"),
    "call.machine.detection.ended": _field("result", "result"),
    "call.machine.premium.detection.ended": _field("result", "result"),
    "call.machine.greeting.ended": _field("result", "result"),
    "streaming.started": _field("stream_id", "stream"),
    "streaming.failed": _field("failure_reason", "reason"),
    "call.recording.saved": _field("channels", "channels:"),
    "call.speak.ended": _field("status", "status"),
    "call.bridged": _field("to", "to"),
}
