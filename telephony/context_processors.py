from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from telephony.telnyx.webhooks import verification_disabled


def telephony_mode(request: HttpRequest) -> dict[str, Any]:
    """Tell every page which carriers are simulated and whether webhook checks are off."""
    return {
        "telnyx_simulator": settings.TELNYX_SIMULATOR,
        "twilio_simulator": settings.TWILIO_SIMULATOR,
        "webhook_verification_disabled": verification_disabled(),
    }
