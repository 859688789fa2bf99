"""Telnyx's media WebSocket format (telnyx-protocol.md §1): JSON text frames both ways.

In, with an `event` field: `connected` (its `connected` object holds the stream's auth token
when Telnyx was given one), `start` (`stream_id` at top level, `start.media_format`), `media`
(`media.payload` is the base64 RTP payload without its header; `chunk`, `timestamp` and
`sequence_number` are strings; order is not guaranteed), `dtmf`, `mark` (the echo of ours),
`error` (a warning, its object under `payload`) and `stop`. Out: `media` (base64 codec bytes
in `media.payload`, no stream_id needed), `mark` and `clear`.

`parse_frame` is a pure function from one message to a telephony.media.frames value. What
breaks the format comes back as a `BadFrame` whose reason is stored with the call's events.
The payload's size is the session's to judge, since it depends on the codec `start` named.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from telephony.media.frames import CarrierWarning, Connected, InboundFrame, Start, Wire
from telephony.media.json_frames import (
    Parser,
    dtmf_frame,
    int_or_none,
    mark_frame,
    media_frame,
    object_at,
    parse_json_frame,
    stop_frame,
)


def parse_frame(text: str | None, data: bytes | None = None) -> InboundFrame:
    """Read one WebSocket message: `text` for a text frame, else the bytes of a binary one."""
    return parse_json_frame(text, data, _PARSERS)


def _connected(message: dict[str, Any]) -> Connected:
    # Named as the upgrade header that may carry the same token (§1.1).
    token = object_at(message, "connected").get("x-telnyx-streaming-auth-token")
    return Connected(auth_token=str(token or ""))


def _start(message: dict[str, Any]) -> Start:
    start = object_at(message, "start")
    media_format = object_at(start, "media_format")
    return Start(
        stream_id=str(message.get("stream_id") or ""),
        encoding=str(media_format.get("encoding") or "PCMU"),
        sample_rate=int_or_none(media_format.get("sample_rate")),
        from_=str(start.get("from") or ""),
        to=str(start.get("to") or ""),
        carrier_call_id=str(start.get("call_control_id") or ""),
        media_format=media_format,
    )


def _error(message: dict[str, Any]) -> CarrierWarning:
    # A warning, not the end of the stream (§1.2): 100002 unknown_error, 100003
    # malformed_frame, 100004 invalid_media, 100005 rate_limit_reached.
    payload = object_at(message, "payload")
    # Quoted in log lines, so cut short: a peer may send 64 KB of detail in every frame.
    code, title, detail = (_short(payload.get(key)) for key in ("code", "title", "detail"))
    return CarrierWarning(f"{code} {title}: {detail}", payload)


_PARSERS: dict[str, Parser] = {
    "connected": _connected,
    "start": _start,
    # Order is not guaranteed: `chunk` places a frame, `sequence_number` if it is missing.
    "media": lambda message: media_frame(message, "sequence_number"),
    "dtmf": lambda message: dtmf_frame(message, message.get("occurred_at")),
    "mark": mark_frame,
    "error": _error,
    "stop": stop_frame,
}


def _short(value: object, limit: int = 100) -> str:
    text = value if isinstance(value, str) else repr(value)[: limit + 1]
    return text if len(text) <= limit else text[:limit] + "..."


# What we send ---------------------------------------------------------------------------


def media_message(stream_id: str, payload: bytes) -> str:
    # Concatenation, not json.dumps: 50 of these a second per call, and base64 needs no escaping.
    return '{"event":"media","media":{"payload":"' + base64.b64encode(payload).decode() + '"}}'


def mark_message(stream_id: str, name: str) -> str:
    return json.dumps({"event": "mark", "mark": {"name": name}})


def clear_message(stream_id: str) -> str:
    return json.dumps({"event": "clear"})


WIRE = Wire(
    carrier="Telnyx",
    parse=parse_frame,
    media=media_message,
    mark=mark_message,
    clear=clear_message,
)
