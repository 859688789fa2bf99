"""Hostile frame sequences for the Telnyx media WebSocket (telnyx-protocol.md §1.2), each
frame built together with its meaning (see media_model)."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.media_model import CODECS, MAX_FRAME_CHARS, TOKEN, Expected, Frame, MediaCase
from tests.fuzz.strategies import Hostile, hostiles, pick, unstorable

DTMF_DIGITS = "0123456789*#ABCDabcd"
_MISSING = object()


# Frames -----------------------------------------------------------------------------------


def _made(kind: str, frame: dict[str, Any], h: Hostile, **meaning: Any) -> Frame:
    text = json.dumps(_present(frame))
    # JSON no database stores: lone surrogates and NaN (only from a Hostile that may make
    # them), and NUL (any Hostile's control characters).
    parsed = json.loads(text)
    if (h.unstorable and unstorable(parsed)) or _holds_nul(parsed):
        return Frame("bad", text)
    return Frame(kind, text, **meaning)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _present(value: Any) -> Any:
    """`value` without the fields marked _MISSING."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not _MISSING}
    if isinstance(value, list):
        return [_present(item) for item in value]
    return value


# The right token, then wrong ones ("é..." is not ASCII); kind len(_TOKENS) is any text.
_TOKENS = (TOKEN, _MISSING, None, "", TOKEN.upper(), TOKEN + " ", "é" + TOKEN, 7)


def _connected(h: Hostile, kind: int) -> Frame:
    token = _TOKENS[kind] if kind < len(_TOKENS) else h.text(40)
    body: Any = {"x-telnyx-streaming-auth-token": token} if token is not _MISSING else {}
    if kind == 1 and h.rng.random() < 0.5:
        body = h.json(1)
    frame = {
        "event": "connected",
        "version": "1.0.0" if h.rng.random() < 0.8 else h.scalar(),
        "connected": body,
    }
    return _made("connected", frame, h, token_ok=token == TOKEN)


# (value in the frame, what it means); _MISSING leaves the field out.
_ENCODINGS: tuple[tuple[Any, str], ...] = (
    ("PCMU", "PCMU"),
    ("pcma", "PCMA"),
    ("L16", "L16"),
    ("l16", "L16"),
    ("Pcmu", "PCMU"),
    (_MISSING, "PCMU"),
    (None, "PCMU"),
    ("", "PCMU"),
    ("G722", "G722"),
    ("OPUS", "OPUS"),
    ("AMR-WB", "AMR-WB"),
    ("mulaw", "MULAW"),
    (["PCMU"], "['PCMU']"),
    (711, "711"),
)
_RATES: tuple[tuple[Any, int | None], ...] = (
    (_MISSING, None),
    (8000, 8000),
    ("8000", 8000),
    (16000, 16000),
    ("16000", 16000),
    (None, None),
    (44100, 44100),
    ("22050", 22050),
    (0, 0),
    (-8000, -8000),
    ("8k", None),
    (8000.0, None),
    (True, None),
    ([8000], None),
)


def _start(h: Hostile, encoding: int, rate: int) -> Frame:
    value, name = _ENCODINGS[encoding]
    rate_value, hz = _RATES[rate]
    rates = CODECS.get(name, {})
    hz = next(iter(rates), None) if hz is None else hz
    media_format = {"encoding": value, "sample_rate": rate_value, "channels": h.scalar()}
    start: Any = {
        "call_control_id": "v3:x" if h.rng.random() < 0.8 else h.scalar(),
        "from": h.scalar(),
        "to": h.scalar(),
        "custom_parameters": h.json(1),
        "media_format": media_format,
    }
    shape = h.rng.randrange(12)
    if shape == 0:  # no usable media_format or start object: PCMU at 8 kHz
        start["media_format"] = h.rng.choice([None, "PCMU", [media_format], 8000])
        name, hz = "PCMU", 8000
    elif shape == 1:
        start = h.rng.choice([None, "start", [start], 1])
        name, hz = "PCMU", 8000
    frame = {
        "event": "start",
        "sequence_number": h.scalar(),
        "stream_id": "32DE0DEA-53CB-4B21" if h.rng.random() < 0.5 else h.text(80),
        "start": start,
    }
    codec = (name, hz) if hz in CODECS.get(name, {}) else None
    return _made("start", frame, h, codec=codec)


# Decoded payload bytes: whole 20 ms frames, then odd sizes and the one-second limit's edges.
_PAYLOAD_SIZES = (160, 320, 640, 1, 2, 3, 159, 161, 319, 641, 8000, 8001, 16000, 16001)
_PAYLOAD_SIZES += (32000, 32001)
_NOT_BASE64 = ("AAA", "A===", "!!!!", "AAAA\nAAAA", "AA AA", "ü" * 4, "====", "-_-_")


def _sequence(h: Hostile, n: int) -> tuple[Any, bool]:
    value, sequenced = h.rng.choice(
        (
            (n, True),
            (str(n), True),
            (str(-n), True),
            (str(10**25 + n), True),  # a jump no counter column can hold
            (_MISSING, False),
            (None, False),
            ("", False),
            (f"#{n}", False),
            (n + 0.5, False),
            ([n], False),
            (True, False),
        )
    )
    return value, sequenced


_TRACKS: tuple[tuple[Any, bool], ...] = (
    (_MISSING, True),
    ("inbound_track", True),
    (None, True),
    ("", True),
    ("outbound", False),
    ("outbound_track", False),
    ("inbound/outbound", False),
)


def _media(h: Hostile, body: int, n: int) -> Frame:
    if body == 1:  # no media object
        frame = {"event": "media", "media": h.rng.choice([_MISSING, None, [], "x", 1])}
        return _made("media", frame, h, good=False)
    # Telnyx's own frame (20 ms, fine in every codec), then a twist or two, or none.
    track: Any = "inbound"
    inbound, size, payload = True, 160, base64.b64encode(h.rng.randbytes(160)).decode()
    (chunk, chunk_ok), (seq, seq_ok) = (str(n), True), (str(n), True)
    for _ in range(h.rng.choice((0, 0, 0, 1, 1, 2))):
        twist = h.rng.randrange(5)
        if twist == 0:
            track, inbound = h.rng.choice(
                (*_TRACKS, (h.text(10, min_size=1, controls=False) + "!", False))
            )
        elif twist == 1:
            size = h.rng.choice(_PAYLOAD_SIZES) if h.rng.random() < 0.8 else h.rng.randint(1, 700)
            payload = base64.b64encode(h.rng.randbytes(size)).decode()
        elif twist == 2:
            size, payload = None, h.rng.choice(_NOT_BASE64)
            if h.rng.random() < 0.3:
                size, payload = 0, h.rng.choice([_MISSING, None, "", 12, ["AAAA"]])
        elif twist == 3:
            chunk, chunk_ok = _sequence(h, n)
        else:
            seq, seq_ok = _sequence(h, n)
    media = {"track": track, "chunk": chunk, "timestamp": str(n * 20), "payload": payload}
    frame = {"event": "media", "sequence_number": seq, "stream_id": "s-1", "media": media}
    return _made(
        "media", frame, h, inbound=inbound, payload_size=size, sequenced=chunk_ok or seq_ok
    )


def _dtmf(h: Hostile) -> Frame:
    digit = h.rng.choice(
        [*DTMF_DIGITS, 5, _MISSING, None, "", 0, "12", "E", "é", 10, [], {}, h.text(3)]
    )
    text = "" if digit is _MISSING or not digit else str(digit)
    dtmf: Any = {"digit": digit} if h.rng.random() < 0.9 else h.scalar()
    good = isinstance(dtmf, dict) and len(text) == 1 and text in DTMF_DIGITS
    frame = {
        "event": "dtmf",
        "occurred_at": h.scalar(),
        "sequence_number": h.scalar(),
        "dtmf": dtmf,
    }
    return _made("dtmf", frame, h, good=good)


def _unknown(h: Hostile) -> Frame:
    kind = h.rng.randrange(4)
    if kind == 0:  # not an object at all
        return Frame("unknown", h.rng.choice(["null", "1", '"media"', "[]", "true", "-0.0"]))
    events = ("MEDIA", "Start", "media ", "clear", "closed", "", None, 1, ["media"], {})
    event = _MISSING if kind == 1 else (h.rng.choice(events) if kind == 2 else h.text(12))
    if event in ("connected", "start", "media", "dtmf", "mark", "error", "stop"):
        event = f"{event}?"
    return _made("unknown", {"event": event, "media": h.json(1)}, h)


_NOT_JSON = ("", "{", "}", "nul", "{'event': 'media'}", '{"event": "media",}', "\ufeff{}")
_NOT_JSON += ("NaN", "-1e999")  # Python reads them (as non-finite floats); JSON has no such thing


def _bad(h: Hostile, n: int) -> Frame:
    kind = h.rng.randrange(6)
    if kind == 0:  # a real frame, cut short
        text = _media(h, 0, n).text
        return Frame("bad", text[: h.rng.randrange(len(text))])
    if kind == 1:  # a binary message: Telnyx sends text only
        return Frame("bad", "", binary=h.binary(64))
    if kind == 2:  # deeper than the JSON parser's recursion limit
        return Frame("bad", h.rng.choice(["[", '{"a":']) * h.rng.randint(1_000, 12_000))
    if kind == 3:  # Python refuses integers of more than 4300 digits
        return Frame("bad", '{"event": "media", "sequence_number": ' + "7" * 5000 + "}")
    if kind == 4:  # over the frame size limit, however well formed
        text = _media(h, 0, n).text
        return Frame(
            "bad", text[:-1] + " " * (MAX_FRAME_CHARS - len(text) + h.rng.randint(1, 99)) + "}"
        )
    return Frame("bad", h.rng.choice(_NOT_JSON) if h.rng.random() < 0.7 else "\x00" + h.text(9))


_BODY_KINDS = (
    *("media",) * 9,
    *("bad",) * 3,
    *("unknown",) * 2,
    *("dtmf",) * 2,
    "mark",
    "error",
    "start",
    "connected",
    "stop",
)


def _frame(draw: st.DrawFn, h: Hostile, n: int) -> Frame:
    kind = _BODY_KINDS[pick(draw, len(_BODY_KINDS))]
    if kind == "media":
        return _media(h, h.rng.randrange(10) == 1, n)
    if kind == "start":
        return _start(h, h.rng.randrange(len(_ENCODINGS)), h.rng.randrange(len(_RATES)))
    if kind == "connected":
        return _connected(h, h.rng.randrange(len(_TOKENS) + 1))
    if kind == "bad":
        return _bad(h, n)
    if kind == "unknown":
        return _unknown(h)
    if kind == "dtmf":
        return _dtmf(h)
    key = "payload" if kind == "error" else kind  # mark, error, stop
    return _made(kind, {"event": kind, "stream_id": h.scalar(), key: h.json(1)}, h)


@st.composite
def media_cases(draw: st.DrawFn) -> MediaCase:
    h: Hostile = draw(hostiles)
    auth_token = pick(draw, 4) == 3
    frames: list[Frame] = []
    # Half the streams open as Telnyx opens them (supported encodings, plausible rates);
    # the rest with any connected frame, any start, or neither.
    opening = max(0, pick(draw, 6) - 2)
    if opening < 2:
        frames.append(_connected(h, 0 if opening == 0 else h.rng.randrange(len(_TOKENS) + 1)))
    if opening == 0:
        frames.append(_start(h, h.rng.randrange(5), h.rng.choice((0, 0, 0, 1, 2, 3, 4))))
    elif opening < 3:
        frames.append(_start(h, h.rng.randrange(len(_ENCODINGS)), h.rng.randrange(len(_RATES))))
    frames += [_frame(draw, h, n) for n in range(2, 2 + pick(draw, 7))]
    if h.rng.random() < 0.5:
        frames.append(Frame("stop", '{"event": "stop", "stop": {}}'))
    expected = Expected(auth_pending=auth_token)
    for frame in frames:
        expected.feed(frame)
    return MediaCase(tuple(frames), auth_token, expected)
