"""WebSocket routes of the whole project; each app owns its own list."""

from __future__ import annotations

from telephony.telnyx.routing import websocket_urlpatterns as telnyx_routes
from telephony.twilio.routing import websocket_urlpatterns as twilio_routes

websocket_urlpatterns = [*telnyx_routes, *twilio_routes]
