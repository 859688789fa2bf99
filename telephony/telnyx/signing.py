"""Ed25519 webhook signatures, as Telnyx makes them (telnyx-protocol.md §2.3): the signing
half, used by the simulator and by the settings (which derive the simulator's public key);
`telephony.telnyx.webhooks` verifies.

The signature covers the UTF-8 bytes of `<timestamp>|<raw body>`; it travels base64-encoded in
`telnyx-signature-ed25519`, the Unix timestamp in `telnyx-timestamp`. The public key is handed
to the server as base64 of the raw 32-byte key, which is what Mission Control shows.
"""

from __future__ import annotations

import base64

from nacl.signing import SigningKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"


class WebhookSigner:
    def __init__(self, seed: bytes | None = None) -> None:
        if seed is not None and len(seed) != 32:
            raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        self._key = SigningKey(seed) if seed is not None else SigningKey.generate()

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(bytes(self._key.verify_key)).decode()

    def signature(self, body: bytes, timestamp: int) -> str:
        signed = self._key.sign(f"{timestamp}|".encode() + body).signature
        return base64.b64encode(signed).decode()

    def sign(self, body: bytes, timestamp: int) -> dict[str, str]:
        return {SIGNATURE_HEADER: self.signature(body, timestamp), TIMESTAMP_HEADER: str(timestamp)}


def public_key_for_seed(seed: bytes) -> str:
    """The base64 public key (TELNYX_PUBLIC_KEY) that webhooks signed from `seed` verify with."""
    return WebhookSigner(seed).public_key_b64
