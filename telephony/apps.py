from __future__ import annotations

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self) -> None:
        from django.conf import settings

        from telephony import checks  # noqa: F401  (registers the system checks)

        if settings.BRIDGE == "stream":
            # ~1.5 s and ~100 MB once per worker at start-up, rather than in the first call's
            # event loop (stream-bridge.md §3.7). Other bridges never load the WebRTC stack.
            import getstream.video.rtc  # noqa: F401
