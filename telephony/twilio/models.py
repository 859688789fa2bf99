"""What `provision_twilio` changed on a Twilio number, so `--teardown` puts back exactly that."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from telephony.provisioning_record import ProvisioningRecord, one_active_per_number


class TwilioProvisioning(ProvisioningRecord):
    """One set-up of one Twilio number; rows stay as history once torn down."""

    number_sid = models.CharField(max_length=34, help_text="The IncomingPhoneNumber's PN… sid.")
    # What set-up last wrote: teardown restores only what still holds these (a URL changed
    # since, in the Console or by another tool, is someone else's and is left alone).
    voice_url = models.CharField(max_length=500)
    status_callback = models.CharField(max_length=500)
    # True once set-up changed the number; the previous_* fields are then what it had before
    # phonebridge's first change ("" where Twilio had nothing set).
    configured_by_us = models.BooleanField(default=False)
    previous_voice_url = models.CharField(max_length=500, blank=True)
    previous_voice_method = models.CharField(max_length=8, blank=True)
    previous_status_callback = models.CharField(max_length=500, blank=True)
    previous_status_callback_method = models.CharField(max_length=8, blank=True)
    provisioned_at = models.DateTimeField(default=timezone.now)
    SET_UP_FIELD = "provisioned_at"

    class Meta:
        ordering = ["-provisioned_at"]
        verbose_name = "Twilio provisioning"
        constraints = [one_active_per_number("telephony_one_active_twilio_provisioning_per_number")]

    def __str__(self) -> str:
        return f"{self.phone_number} → {self.voice_url}"
