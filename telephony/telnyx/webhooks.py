"""Telnyx webhook verification and parsing (Call Control, API v2).

Signature: Ed25519 over the UTF-8 bytes of `<telnyx-timestamp>|<raw body>`, base64 in the
`telnyx-signature-ed25519` header; the timestamp (Unix seconds) must be within the tolerance
of now in either direction. The checks run in the order Telnyx's SDKs use: headers present,
timestamp window, key, signature length, signature. See telnyx-protocol.md §2.3.

Envelope: `{"data": {"record_type": "event", "event_type", "id", "occurred_at", "payload"},
"meta": {"attempt", "delivered_to"}}` (§2.1).
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from telephony import storable

# An Ed25519 SubjectPublicKeyInfo is this 12-byte DER prefix followed by the raw 32-byte key.
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


class BadSignature(Exception):
    """The request is not provably from Telnyx; `str(exc)` is a short reason for the log."""


class BadEnvelope(ValueError):
    """The body verified but is not a Telnyx webhook envelope."""


def load_public_key(value: str) -> VerifyKey:
    """Parse TELNYX_PUBLIC_KEY: base64 of the raw 32-byte key, or of its DER/SPKI form (or PEM)."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        text = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not valid base64") from exc
    if len(raw) == len(_SPKI_PREFIX) + 32 and raw.startswith(_SPKI_PREFIX):
        raw = raw[len(_SPKI_PREFIX) :]
    if len(raw) != 32:
        raise ValueError(f"decodes to {len(raw)} bytes, not a 32-byte Ed25519 key")
    return VerifyKey(raw)


def verify_signature(
    *,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    public_key: str,
    tolerance: int = 300,
    now: float | None = None,
) -> None:
    """Raise BadSignature unless `signature` signs `timestamp|body` with `public_key`."""
    if not signature or not timestamp:
        raise BadSignature("missing signature or timestamp header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise BadSignature("timestamp is not an integer") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise BadSignature("timestamp outside the tolerance window")
    try:
        key = load_public_key(public_key)
    except ValueError as exc:
        raise BadSignature(f"TELNYX_PUBLIC_KEY {exc}") from None
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("signature is not valid base64") from None
    if len(raw_signature) != 64:
        raise BadSignature("signature is not 64 bytes")
    try:
        key.verify(timestamp.encode() + b"|" + body, raw_signature)
    except BadSignatureError:
        raise BadSignature("signature does not match") from None


def verification_disabled() -> bool:
    """The explicit, DEBUG-only switch that skips verification (warned about on every page)."""
    return bool(settings.DEBUG and settings.TELNYX_SKIP_SIGNATURE_VERIFICATION)


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    event_type: str
    occurred_at: datetime
    payload: dict[str, Any]
    attempt: int
    envelope: dict[str, Any]

    @property
    def call_control_id(self) -> str:
        return str(self.payload.get("call_control_id") or "")


def parse_event(body: bytes) -> WebhookEvent:
    """Parse the data/meta envelope; tolerant of extra fields, strict about the ones we need."""
    try:
        envelope = storable.loads(body)
    except storable.NotStorable as exc:  # a retry would fail for ever, so refuse it now
        raise BadEnvelope(f"body cannot be stored: {exc}") from None
    except ValueError as exc:
        raise BadEnvelope(f"body is not JSON: {exc}") from None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        raise BadEnvelope("no 'data' object")
    event_id, event_type = data.get("id"), data.get("event_type")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise BadEnvelope("'data.id' is missing or not a string")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 64:
        raise BadEnvelope("'data.event_type' is missing or not a string")
    payload = data.get("payload") or {}
    if not isinstance(payload, dict):
        raise BadEnvelope("'data.payload' is not an object")
    if len(str(payload.get("call_control_id") or "")) > 255:
        raise BadEnvelope("'call_control_id' is longer than any Telnyx id")
    meta = envelope.get("meta") if isinstance(envelope.get("meta"), dict) else {}
    attempt = meta.get("attempt", 1)
    return WebhookEvent(
        id=event_id,
        event_type=event_type,
        occurred_at=_parse_time(data.get("occurred_at")),
        payload=payload,
        attempt=attempt if isinstance(attempt, int) else 1,
        envelope=envelope,
    )


def _parse_time(value: object) -> datetime:
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        parsed = None
    if parsed is None or not 1 < parsed.year < 9999:  # years 1 and 9999 overflow in UTC
        return timezone.now()
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
