"""WebSocket routes of the whole project; each app owns its own list."""

from __future__ import annotations

from telephony.telnyx.routing import websocket_urlpatterns as telephony_routes

websocket_urlpatterns = [*telephony_routes]
