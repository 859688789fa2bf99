from __future__ import annotations

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self) -> None:
        from telephony import checks  # noqa: F401  (registers the system checks)
