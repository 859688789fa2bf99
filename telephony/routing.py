"""WebSocket routes for Telnyx media streams.

Telnyx is a carrier, not a browser: it sends no Origin header and no cookies, so the media
route is authenticated by the one-time token in its path, not by origin or session.
"""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
