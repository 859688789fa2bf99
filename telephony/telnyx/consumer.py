"""The Telnyx media WebSocket (`/telnyx/media/<call uuid>/<token>`): telephony.media's consumer
with Telnyx's wire format and its streaming auth token.

A stream started with `stream_auth_token` (on dial or streaming_start) brings that token back
as the `x-telnyx-streaming-auth-token` upgrade header, or else in its `connected` frame
(telnyx-protocol.md §1.1). That token is derived from the one in the stream's path
(telephony.telnyx.stream_auth), so a URL read in a log is not also the header.
"""

from __future__ import annotations

import hmac

from django.conf import settings

from telephony.media.consumer import MediaConsumer
from telephony.media.session import MediaSession
from telephony.telnyx.stream_auth import stream_auth_token
from telephony.telnyx.wire import WIRE

AUTH_HEADER = b"x-telnyx-streaming-auth-token"


class MediaStreamConsumer(MediaConsumer):
    wire = WIRE

    def carrier_refusal(self, token: str) -> str | None:
        """A streaming auth token sent as the x-telnyx-streaming-auth-token upgrade header
        (stream_auth_token on dial/streaming_start) must match; with MEDIA_AUTH_HEADER_REQUIRED
        a missing header is checked against the `connected` frame instead."""
        header = self._auth_header()
        # Bytes: compare_digest refuses non-ASCII text, and a header may hold any byte.
        expected = stream_auth_token(token).encode()
        if header and not hmac.compare_digest(header.encode("latin-1"), expected):
            return "auth header missing or wrong"
        return None

    def prepare_session(self, session: MediaSession, token: str) -> None:
        if settings.MEDIA_AUTH_HEADER_REQUIRED and not self._auth_header():
            # No upgrade header: the token must then come in the `connected` frame.
            session.expect_auth_token(stream_auth_token(token))

    def _auth_header(self) -> str:
        return dict(self.scope.get("headers", [])).get(AUTH_HEADER, b"").decode("latin1")
