"""The telephony app's models live beside the carrier they describe; Django finds them here."""

from __future__ import annotations

from telephony.telnyx.models import TelnyxProvisioning
from telephony.twilio.models import TwilioProvisioning

__all__ = ["TelnyxProvisioning", "TwilioProvisioning"]
