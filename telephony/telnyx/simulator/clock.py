"""Time formats Telnyx uses on the wire (the clock itself is telephony.simulation.clock)."""

from __future__ import annotations

from datetime import UTC, datetime

from telephony.simulation.clock import now_utc

__all__ = ["iso_micro", "iso_milli", "now_utc"]


def iso_micro(moment: datetime) -> str:
    """Webhook `occurred_at` and call times: microseconds and a literal Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_milli(moment: datetime) -> str:
    """Account resources (`created_at`, `updated_at`) carry milliseconds."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
