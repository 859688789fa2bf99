"""Hostile deliveries to POST /telnyx/events, each with the status it must get.

The expected status follows from how the delivery was built (telnyx-protocol.md §2.1, §2.3):
413 for a body over 1 MiB, 405 for another method, 403 when the Ed25519 headers do not prove
Telnyx sent it within ±300 s, 400 for a verified body that is not the envelope (or holds
what cannot be stored: lone surrogates, NaN), else 200.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from nacl.signing import SigningKey

from telephony.telnyx.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.environment import TEST_SIGNING_SEED
from tests.fuzz.envelopes import (
    BROKEN_ENVELOPES,
    ENVELOPES,
    FORGED_ENVELOPES,
    UNPARSABLE_BODIES,
    encode,
)
from tests.fuzz.strategies import Hostile, hostiles, pick, unstorable, weighted

MAX_BODY = 1024 * 1024  # telephony.telnyx.views.MAX_BODY_BYTES, restated: the contract under test
TOLERANCE = 300
TELNYX_KEY = SigningKey(TEST_SIGNING_SEED)
OTHER_KEY = SigningKey(bytes([7]) * 32)


@dataclass(frozen=True)
class Delivery:
    kind: str
    body: bytes
    headers: dict[str, str]
    expected: int
    method: str = "POST"
    content_length: str | None = None  # None: the body's real length
    event_id: str | None = None  # set for a 200: the envelope's data.id
    call_control_id: str = ""  # set for a 200: what a Call created by it would be keyed on

    def __repr__(self) -> str:  # hypothesis prints this for a failing case
        body = self.body if len(self.body) < 800 else self.body[:800] + b"..."
        return (
            f"Delivery({self.kind!r}, expected={self.expected}, method={self.method!r}, "
            f"headers={self.headers!r}, content_length={self.content_length!r}, body={body!r})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis prints it
        printer.text(repr(self))


def signed(
    body: bytes, *, key: SigningKey = TELNYX_KEY, timestamp: str | None = None
) -> dict[str, str]:
    ts = str(int(time.time())) if timestamp is None else timestamp
    signature = key.sign(ts.encode("latin-1") + b"|" + body).signature
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: ts}


# Deliveries ------------------------------------------------------------------------------


@st.composite
def valid_deliveries(draw: st.DrawFn) -> Delivery:
    envelope = draw(ENVELOPES)
    rng = draw(hostiles).rng
    body = encode(envelope, ascii_only=rng.random() < 0.7)
    if rng.random() < 0.1:  # an earlier, garbage "data" that the real one overrides
        body = b'{"data": ' + rng.choice((b"null", b"[1]", b'"x"')) + b", " + body[1:]
    skew = rng.randint(-(TOLERANCE - 15), TOLERANCE - 15)
    headers = signed(body, timestamp=str(int(time.time()) + skew))
    try:
        parsed = json.loads(body)
    except ValueError:  # raw lone surrogates are not UTF-8
        parsed = None
    # What the server parses must be text and JSON a database stores: a surrogate pair is
    # fine, a lone surrogate is not, nor are NaN and ±inf. Else a 400 (not a 500, nor a 503
    # that Telnyx would retry).
    if parsed is None or unstorable(parsed) or "\\u0000" in json.dumps(parsed):
        # NUL too: PostgreSQL's jsonb refuses it, so the server refuses it everywhere.
        return Delivery("unstorable", body, headers, 400)
    payload = parsed["data"].get("payload")
    ccid = payload.get("call_control_id") if isinstance(payload, dict) else None
    if len(str(ccid or "")) > 255:
        return Delivery("unstorable", body, headers, 400)
    return Delivery(
        "valid",
        body,
        headers,
        200,
        event_id=parsed["data"]["id"],
        call_control_id=str(ccid) if ccid else "",
    )


@st.composite
def unenveloped_deliveries(draw: st.DrawFn) -> Delivery:
    if pick(draw, 2):
        body = json.dumps(draw(BROKEN_ENVELOPES), ensure_ascii=True).encode()
    else:
        body = draw(UNPARSABLE_BODIES)
    return Delivery("not_an_envelope", body, signed(body), 400)


@st.composite
def forged_deliveries(draw: st.DrawFn) -> Delivery:
    if pick(draw, 5):
        body = encode(draw(FORGED_ENVELOPES), ascii_only=True)
    else:
        body = draw(UNPARSABLE_BODIES)
    h = draw(hostiles)
    now = int(time.time())
    good = signed(body)
    fault = pick(draw, 12)
    if fault == 0:
        headers = {}
    elif fault == 1:
        headers = {TIMESTAMP_HEADER: good[TIMESTAMP_HEADER]}
    elif fault == 2:
        headers = {SIGNATURE_HEADER: good[SIGNATURE_HEADER]}
    elif fault == 3:
        headers = {SIGNATURE_HEADER: "", TIMESTAMP_HEADER: h.rng.choice(["", str(now)])}
    elif fault == 4:
        headers = signed(body, key=OTHER_KEY)
    elif fault == 5:  # not base64 at all
        bad = h.rng.choice(["!", "====", "AAA", "A" * 87, "Zm9v\n", "é" * 88]) + _latin1(h)
        headers = {**good, SIGNATURE_HEADER: bad}
    elif fault == 6:  # base64, but not 64 bytes
        raw = h.rng.randbytes(h.rng.choice([1, 32, 63, 65, 128]))
        headers = {**good, SIGNATURE_HEADER: base64.b64encode(raw).decode()}
    elif fault == 7:  # a valid signature of something else
        headers = signed(
            body + h.rng.choice([b" ", b"\n", b"{}"]), timestamp=good[TIMESTAMP_HEADER]
        )
    elif fault == 8:  # signed for one timestamp, sent with another
        headers = {**signed(body, timestamp=str(now - 1)), TIMESTAMP_HEADER: str(now + 1)}
    elif fault == 9:  # stale or from the future, and correctly signed
        skew = h.rng.choice([TOLERANCE + 15, 3600, 10**9, 10**12]) * h.rng.choice([-1, 1])
        headers = signed(body, timestamp=str(now + skew))
    elif fault == 10:  # a timestamp that is not an integer, correctly signed
        stamp = h.rng.choice([f"{now}.0", f"{now}.5", "1.7e9", f"0x{now:x}", "NaN", "-", "x"])
        headers = signed(body, timestamp=stamp + _latin1(h).replace(" ", "x"))
    else:  # one bit of the signature flipped
        raw = bytearray(base64.b64decode(good[SIGNATURE_HEADER]))
        raw[h.rng.randrange(64)] ^= 1 << h.rng.randrange(8)
        headers = {**good, SIGNATURE_HEADER: base64.b64encode(raw).decode()}
    return Delivery(f"forged_{fault}", body, headers, 403)


def _latin1(h: Hostile) -> str:
    return "".join(chr(h.rng.randrange(0x20, 0x100)) for _ in range(h.size(40)))


@st.composite
def oversized_deliveries(draw: st.DrawFn) -> Delivery:
    envelope = {"data": {"id": f"big-{draw(st.uuids())}", "event_type": "call.bridged"}}
    body = json.dumps(envelope).encode()
    if pick(draw, 4) == 0:  # exactly the limit is still fine
        body += b" " * (MAX_BODY - len(body))
        return Delivery("exactly_1MiB", body, signed(body), 200, event_id=envelope["data"]["id"])
    body += b" " * (MAX_BODY - len(body) + draw(st.integers(1, 2 * MAX_BODY)))
    headers = signed(body) if pick(draw, 2) else {}
    return Delivery("over_1MiB", body, headers, 413)


@st.composite
def lying_length_deliveries(draw: st.DrawFn) -> Delivery:
    body = json.dumps(draw(FORGED_ENVELOPES)).encode()
    declared = str(draw(st.integers(MAX_BODY + 1, 10**15)))
    return Delivery("declares_over_1MiB", body, signed(body), 413, content_length=declared)


@st.composite
def other_methods(draw: st.DrawFn) -> Delivery:
    method = ("GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")[pick(draw, 6)]
    body = json.dumps(draw(FORGED_ENVELOPES)).encode()
    return Delivery("wrong_method", body, signed(body), 405, method=method)


def deliveries() -> st.SearchStrategy[Delivery]:
    # Mebibyte bodies are costly: a few dozen of them in 10,000 cases.
    return weighted(
        (600, valid_deliveries()),
        (150, unenveloped_deliveries()),
        (4, oversized_deliveries()),
        (10, lying_length_deliveries()),
        (20, other_methods()),
        (200, forged_deliveries()),
    )
