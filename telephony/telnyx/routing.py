"""WebSocket routes for Telnyx media streams.

Telnyx is a carrier, not a browser: it sends no Origin header and no cookies, so the media
route is authenticated by the one-time token in its path, not by origin or session.
"""

from __future__ import annotations

from django.urls import path

from telephony.telnyx.consumer import MediaStreamConsumer

websocket_urlpatterns = [
    # django-stubs types path() for views only, not ASGI apps (see phonebridge/asgi.py).
    path("telnyx/media/<str:call_id>/<str:token>", MediaStreamConsumer.as_asgi()),  # type: ignore[arg-type]
]
