"""The simulators' clock; each carrier formats times its own way on the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC)
