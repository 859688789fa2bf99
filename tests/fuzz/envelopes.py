"""Telnyx webhook envelopes as a hostile (but correctly signing) sender would write them, and
bodies that are not envelopes at all (telnyx-protocol.md §2.1, §2.4)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from telephony.telnyx.handlers import HANDLERS
from tests.fuzz.strategies import Hostile, hostiles, pick

# Small pools make deliveries collide: replays of one event id, events for a call we know.
REPLAYED_IDS = tuple(f"evt-replayed-{n}" for n in range(8))
KNOWN_CCIDS = tuple(f"v3:known-{n}" for n in range(6))
KNOWN_SESSIONS = tuple(f"session-{n}" for n in range(4))
# An outbound call placed before the fuzz (no call_control_id yet), found by client_state.
DIALED_CALL_ID = uuid.UUID("00000000-0000-4000-8000-00000000f022")
EVENT_TYPES = (
    *HANDLERS,
    "call.dtmf.received",
    "call.bridged",
    "call.transcription",
    "call.speak.started",
    "call.machine.greeting.ended",
    "call.recording.error",
)
OCCURRED_AT_EDGES = (
    "2026-11-22T10:00:00.038431Z",
    "0001-01-01T00:00:00+01:00",  # an hour before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # an hour after year 9999 in UTC
    "0001-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-11-22T10:00:00+24:00",
    "2026-11-22T10:00:00.1234567890Z",
    "2026-11-22 10:00:00",
    "20261122T100000Z",
)
PAYLOAD_FIELDS = (
    "call_leg_id",
    "from",
    "to",
    "state",
    "hangup_cause",
    "hangup_source",
    "sip_hangup_cause",
    "call_quality_stats",
    "result",
    "failure_reason",
    "recording_id",
    "recording_urls",
    "recording_started_at",
    "channels",
    "digit",
)
RESERVED = frozenset(("call_control_id", "call_session_id", "client_state", "direction"))


def _call_control_id(h: Hostile, kind: int, forged: bool) -> Any:
    if forged:  # never a call we know, so a forged delivery that got through would show
        return f"v3:forged-{h.url_safe()}"
    return (
        lambda: h.rng.choice(KNOWN_CCIDS),
        lambda: f"v3:{h.url_safe(1, 80)}",
        lambda: h.rng.choice(("", None, 0, False)),
        # No control characters: httpx refuses them in the answer command's URL, a bug
        # reported separately (test_regressions.py); anything else a signed webhook may carry.
        lambda: h.text(40, min_size=1, controls=False),
        lambda: h.url_safe(256, 600),  # longer than the column (255)
        lambda: h.rng.choice((1, 10**20, 2.5, float("nan"), True)),
        lambda: [h.rng.randint(-9, 9), h.text(5, controls=False)],
    )[kind]()


def _client_state(h: Hostile, kind: int) -> Any:
    return (
        lambda: None,
        lambda: base64.b64encode(str(DIALED_CALL_ID).encode()).decode(),
        lambda: base64.b64encode(str(uuid.UUID(int=h.rng.getrandbits(128))).encode()).decode(),
        lambda: base64.b64encode(h.binary(20)).decode(),
        h.scalar,
    )[kind]()


def _occurred_at(h: Hostile, kind: int) -> Any:
    if kind == 1:
        return h.rng.choice(OCCURRED_AT_EDGES)
    if kind == 2:
        return h.json(1)
    moment = datetime.min + timedelta(seconds=h.rng.uniform(0, 315_537_897_599))
    minutes = h.rng.randint(-(24 * 60 - 1), 24 * 60 - 1)
    return (
        f"{moment.isoformat()}{'+-'[minutes < 0]}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    )


def _payload(draw: st.DrawFn, h: Hostile, forged: bool) -> Any:
    if pick(draw, 9) == 0:  # a falsy payload is taken as {}: optional in effect
        return h.rng.choice((None, {}, [], "", 0, False))
    payload = h.extras(RESERVED.union(PAYLOAD_FIELDS))
    present = h.rng.getrandbits(len(PAYLOAD_FIELDS)) & h.rng.getrandbits(len(PAYLOAD_FIELDS))
    for bit, name in enumerate(PAYLOAD_FIELDS):
        if present >> bit & 1:
            payload[name] = h.json(1)
    if ccid := pick(draw, 8):
        payload["call_control_id"] = _call_control_id(h, ccid - 1, forged)
    if session := h.rng.randrange(3):
        payload["call_session_id"] = h.rng.choice(KNOWN_SESSIONS) if session == 1 else h.scalar()
    if state := h.rng.randrange(6):
        payload["client_state"] = _client_state(h, state - 1)
    if direction := h.rng.randrange(4):
        payload["direction"] = ("incoming", "outgoing", h.scalar())[direction - 1]
    return payload


@st.composite
def _envelopes(draw: st.DrawFn, *, forged: bool) -> dict[str, Any]:
    h = draw(hostiles)
    data = h.extras(("id", "event_type", "occurred_at", "payload"))
    data["record_type"] = "event" if h.rng.random() < 0.8 else h.scalar()
    data["event_type"] = (
        EVENT_TYPES[pick(draw, len(EVENT_TYPES))] if pick(draw, 2) else h.text(64, min_size=1)
    )
    data["id"] = (
        f"forged-{uuid.UUID(int=h.rng.getrandbits(128))}"
        if forged
        else (
            lambda: str(uuid.UUID(int=h.rng.getrandbits(128))),
            lambda: h.rng.choice(REPLAYED_IDS),
            lambda: h.text(100, min_size=1),
            lambda: "".join(h.char(controls=False, surrogates=False) for _ in range(100)),
        )[pick(draw, 4)]()
    )
    if when := h.rng.randrange(4):
        data["occurred_at"] = _occurred_at(h, when)
    payload = _payload(draw, h, forged)
    if payload is not None or h.rng.random() < 0.5:
        data["payload"] = payload
    envelope = h.extras(("data", "meta"))
    envelope["data"] = data
    envelope["meta"] = {"attempt": h.scalar(), "delivered_to": h.scalar()}
    return envelope


ENVELOPES = _envelopes(forged=False)
FORGED_ENVELOPES = _envelopes(forged=True)


def encode(envelope: dict[str, Any], *, ascii_only: bool) -> bytes:
    # Raw (not \u-escaped) lone surrogates make invalid UTF-8, as a broken peer would send.
    return json.dumps(envelope, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def _broken_envelopes(draw: st.DrawFn) -> Any:
    """JSON that is not an envelope: no data object, or a bad id, event_type or payload."""
    envelope = draw(ENVELOPES)
    h = draw(hostiles)
    data = envelope["data"]
    fault = pick(draw, 8)
    not_a_string = (None, True, 7, [], ["id"], {"id": "x"})
    if fault == 0:
        return h.rng.choice((None, 1, "data", [envelope], [], {}, {"meta": {}}))
    if fault == 1:
        envelope["data"] = h.rng.choice((None, 0, "x", [data], []))
    elif fault == 2:
        data["id"] = h.rng.choice((*not_a_string, "", "x" * 101, h.text(300, min_size=101)))
    elif fault == 3:
        del data["id"]
    elif fault == 4:
        data["event_type"] = h.rng.choice((*not_a_string, "", "x" * 65, h.text(200, min_size=65)))
    elif fault == 5:
        del data["event_type"]
    else:  # a payload that is truthy but not an object
        data["payload"] = h.rng.choice(([None], ["x"], "x", h.text(9, min_size=1), 1, -1.5, True))
    return envelope


@st.composite
def _unparsable_bodies(draw: st.DrawFn) -> bytes:
    kind = pick(draw, 7)
    h = draw(hostiles)
    if kind == 0:
        return h.binary(3000)
    if kind == 1:
        return h.text(200, surrogates=False).encode()
    if kind == 2:  # a real envelope, cut short
        body = json.dumps(draw(ENVELOPES), ensure_ascii=True).encode()
        return body[: h.rng.randrange(len(body))]
    if kind == 3:  # nesting deeper than any parser's recursion limit
        opener = h.rng.choice([b"[", b'{"data":', b'{"a":['])
        return opener * h.rng.randint(1_000, 100_000)
    if kind == 4:  # Python refuses integers of more than 4300 digits
        digits = b"9" * h.rng.randint(4_301, 20_000)
        return (
            b'{"data": {"id": "x", "event_type": "call.hangup", "payload": {"n": ' + digits + b"}}}"
        )
    if kind == 5:  # invalid UTF-8 inside an otherwise fine envelope
        return b'{"data": {"id": "\xff\xfe", "event_type": "call.hangup"}}'
    return h.rng.choice([b"", b" ", b"null", b"[]", b"{}", b'{"data": {}}', b"\x00", b"NaN"])


BROKEN_ENVELOPES = _broken_envelopes()
UNPARSABLE_BODIES = _unparsable_bodies()
