"""What `provision_telnyx` changed on the Telnyx account, so `--teardown` undoes exactly that."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from telephony.provisioning_record import ProvisioningRecord, one_active_per_number


class TelnyxProvisioning(ProvisioningRecord):
    """One set-up of one phone number; rows stay as history once torn down."""

    phone_number_id = models.CharField(max_length=64)
    app_id = models.CharField(max_length=64)
    app_name = models.CharField(max_length=255)
    # Teardown deletes the app only when this is true: an app the user made survives.
    app_created_by_us = models.BooleanField(default=False)
    # True once we re-routed the number; previous_connection_id is then what to restore
    # ("" when the number had no connection).
    number_routed_by_us = models.BooleanField(default=False)
    previous_connection_id = models.CharField(max_length=64, blank=True)
    webhook_event_url = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    SET_UP_FIELD = "created_at"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "Telnyx provisioning"
        constraints = [one_active_per_number("telephony_one_active_provisioning_per_number")]

    def __str__(self) -> str:
        return f"{self.phone_number} → app {self.app_id}"
