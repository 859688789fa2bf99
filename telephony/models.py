"""The telephony app's models live beside the carrier they describe; Django finds them here."""

from __future__ import annotations

from telephony.telnyx.models import TelnyxProvisioning

__all__ = ["TelnyxProvisioning"]
