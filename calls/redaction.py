"""Secrets never kept or shown: the media token in a stream URL, and secret request fields.

The media socket's URL (`wss://<host>/telnyx/media/<call uuid>/<token>`) is a capability:
whoever connects with it first gets the call's audio both ways. Telnyx echoes that URL back
in webhooks (`streaming.started`, `streaming.stopped`, `streaming.failed`'s `stream_params`,
`call.answered` when answered with streaming; telnyx-protocol.md §2.4) and we send it in
answer, dial and streaming_start. So every JSON value we store or show passes through
`redact()`: the commands we log (telephony.telnyx.client), the webhooks we store, and every
admin page and fragment that shows a payload (for rows stored before this existed, the
data migration calls/migrations/0006_hardening.py does the same). Twilio's media URL
(`/twilio/media/<call>/<token>`) sits in the inline TwiML of its requests and is redacted
the same way.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"
# The last path segment after /<carrier>/media/<call>/ is the token (telephony/telnyx/routing.py,
# telephony/twilio/routing.py).
MEDIA_TOKEN = re.compile(r"(/(?:telnyx|twilio)/media/[^/?#\s\"'<>&]+/)[^/?#\s\"'<>&]+")
# Request fields and frame fields that are secrets whatever their value.
SECRET_KEYS = frozenset(
    {
        "stream_auth_token",
        "x-telnyx-streaming-auth-token",
        "sip_auth_password",
        "api_key",
        # Twilio's credentials, should a request or a form ever carry them.
        "authtoken",
        "auth_token",
        "apisecret",
    }
)


def redact_text(text: str) -> str:
    """`text` with every media token replaced by ***."""
    if "/media/" not in text:
        return text  # the common case, without a regex
    return MEDIA_TOKEN.sub(rf"\1{REDACTED}", text)


def redact(value: Any) -> Any:
    """A copy of a JSON value with media tokens and secret fields replaced by ***."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: (REDACTED if _is_secret(key, item) else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _is_secret(key: object, value: object) -> bool:
    return isinstance(key, str) and key.lower() in SECRET_KEYS and value not in (None, "")
