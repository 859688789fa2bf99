"""Telnyx's answers to injected REST faults (§3.1-3.3); the rules are carrier-neutral."""

from __future__ import annotations

from telephony.simulation.faults import (
    FAULT_ALIASES,
    FAULT_KINDS,
    FaultInjector,
    FaultKind,
    FaultRule,
    parse_fail_rate,
)
from telephony.telnyx.simulator.errors import ApiError

__all__ = [
    "FAULT_ALIASES",
    "FAULT_KINDS",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "fault_error",
    "parse_fail_rate",
]


def fault_error(rule: FaultRule) -> ApiError:
    retry = {
        "Retry-After": str(rule.retry_after_s),
        "x-ratelimit-limit": "100",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(rule.retry_after_s),
    }
    if rule.kind == "rate_limit":
        return ApiError(429, "10011", "Too many requests", "Rate limit exceeded.", headers=retry)
    if rule.kind == "dps":
        detail = "The dials per second limit of the account was exceeded."
        return ApiError(429, "90103", "Dial rate limit exceeded", detail, headers=retry)
    status = 503 if rule.kind == "unavailable" else 500
    return ApiError(status, "10007", "Unexpected error", "An unexpected error occurred.")
