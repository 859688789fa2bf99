"""Time formats Telnyx uses on the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso_micro(moment: datetime) -> str:
    """Webhook `occurred_at` and call times: microseconds and a literal Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_milli(moment: datetime) -> str:
    """Account resources (`created_at`, `updated_at`) carry milliseconds."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
