"""What every carrier's provisioning record has: the number, and whether it is still set up.

`provision_<carrier>` keeps one row per set-up of a number, so `--teardown` undoes exactly what
that set-up changed; torn-down rows stay as history. The carriers' concrete models add what
their set-up changes (and keep their own table, ordering and constraint names).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Self

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ProvisioningRecord(models.Model):
    phone_number = models.CharField(max_length=16)
    updated_at = models.DateTimeField(auto_now=True)
    torn_down_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    # The field holding when this set-up was first made (each carrier names it its own way).
    SET_UP_FIELD: ClassVar[str]

    @property
    def set_up_at(self) -> datetime:
        """When this set-up was first made."""
        value: datetime = getattr(self, self.SET_UP_FIELD)
        return value

    @property
    def active(self) -> bool:
        return self.torn_down_at is None

    async def amark_torn_down(self) -> None:
        self.torn_down_at = timezone.now()
        await self.asave(update_fields=["torn_down_at", "updated_at"])

    @classmethod
    async def aactive(cls, phone_number: str = "") -> Self | None:
        """The set-up still in place for `phone_number` ("": for any number)."""
        records = cls._default_manager.filter(torn_down_at__isnull=True)
        if phone_number:
            records = records.filter(phone_number=phone_number)
        return await records.afirst()


def one_active_per_number(name: str) -> models.UniqueConstraint:
    """At most one set-up in place per number; the name is the carrier's existing one."""
    return models.UniqueConstraint(
        fields=["phone_number"], condition=Q(torn_down_at__isnull=True), name=name
    )
