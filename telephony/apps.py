from __future__ import annotations

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self) -> None:
        # Registers the system checks: the core's and the carrier's.
        from telephony import checks  # noqa: F401
        from telephony.bridges import load_configured_bridge
        from telephony.telnyx import checks as telnyx_checks  # noqa: F401
        from telephony.twilio import checks as twilio_checks  # noqa: F401

        load_configured_bridge()
