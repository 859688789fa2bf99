"""The stream auth token: what Telnyx is given as `stream_auth_token` for a media stream.

Telnyx sends it back as the `x-telnyx-streaming-auth-token` upgrade header and in the
`connected` frame (telnyx-protocol.md §1.1). It is derived from the stream's path token with
the server's SECRET_KEY rather than equal to it: the path is what proxies, ngrok's inspector
and access logs record, and a URL read there must not also be the header that
MEDIA_AUTH_HEADER_REQUIRED asks for. Derived, it needs no storage of its own, and every worker
sharing SECRET_KEY computes the same one. (A SECRET_KEY changed mid-call refuses the stream's
reconnection; the lost stream is then restarted with a fresh token, telephony.reconcile.)
"""

from __future__ import annotations

from django.utils.crypto import salted_hmac

_SALT = "phonebridge.telnyx.stream_auth_token"


def stream_auth_token(path_token: str) -> str:
    """The header token for the media stream whose path carries `path_token`."""
    return salted_hmac(_SALT, path_token, algorithm="sha256").hexdigest()
