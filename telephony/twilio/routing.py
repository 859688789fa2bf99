"""WebSocket routes for Twilio media streams.

Twilio is a carrier, not a browser: it sends no Origin header and no cookies, so the media
route is authenticated by the one-time token in its path.
"""

from __future__ import annotations

from django.urls import path

from telephony.twilio.consumer import MediaStreamConsumer

websocket_urlpatterns = [
    # django-stubs types path() for views only, not ASGI apps (see phonebridge/asgi.py).
    path("twilio/media/<str:call_id>/<str:token>", MediaStreamConsumer.as_asgi()),  # type: ignore[arg-type]
]
