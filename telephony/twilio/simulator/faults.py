"""Twilio's answers to injected REST faults; the rules are carrier-neutral.

Reference: https://www.twilio.com/docs/api/errors/20429 (429 Too Many Requests, with
Retry-After), 20500 (Internal Server Error) and 20503 (Service Unavailable).
"""

from __future__ import annotations

from telephony.simulation.faults import FaultRule
from telephony.twilio.simulator.errors import ApiError


def fault_error(rule: FaultRule) -> ApiError:
    if rule.kind in ("rate_limit", "dps"):
        headers = {"Retry-After": str(rule.retry_after_s)}
        return ApiError(429, 20429, "Too Many Requests", headers=headers)
    if rule.kind == "unavailable":
        return ApiError(503, 20503, "Service Unavailable")
    return ApiError(500, 20500, "Internal Server Error")
