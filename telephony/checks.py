"""System checks: misconfiguration is reported at start-up, with the fix, not at the first call.

These are the carrier-neutral ones (the bridge); each carrier registers its own beside its
code (telephony/telnyx/checks.py). Ids stay `telephony.*` whichever module holds them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from calls.models import Call
from telephony.bridges import BRIDGES
from telephony.national_numbers import country_rules


@register("telephony")
def check_bridge(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.BRIDGE not in BRIDGES:
        return [
            Error(
                f"BRIDGE={settings.BRIDGE!r} is not one of {', '.join(BRIDGES)}.",
                hint="Set BRIDGE=stream (agents in Stream calls) or BRIDGE=echo (offline tests).",
                id="telephony.E004",
            )
        ]
    messages: list[CheckMessage] = []
    if settings.BRIDGE == Call.Bridge.STREAM and not (
        settings.STREAM_API_KEY and settings.STREAM_API_SECRET
    ):
        messages.append(
            Error(
                "BRIDGE=stream needs STREAM_API_KEY and STREAM_API_SECRET.",
                hint="Copy both from your Stream dashboard, or set BRIDGE=echo.",
                id="telephony.E003",
            )
        )
    if settings.AGENT_SERVER_URL and not _is_http_url(settings.AGENT_SERVER_URL):
        messages.append(
            Error(
                f"AGENT_SERVER_URL={settings.AGENT_SERVER_URL!r} is not an http(s) URL.",
                hint="For example AGENT_SERVER_URL=http://127.0.0.1:8001",
                id="telephony.E008",
            )
        )
    return messages


@register("telephony")
def check_default_country(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not settings.DEFAULT_COUNTRY:
        return []
    try:
        country_rules(settings.DEFAULT_COUNTRY)
    except ValueError as exc:
        return [
            Error(
                str(exc),
                hint="For example DEFAULT_COUNTRY=US, or DEFAULT_COUNTRY=+44.",
                id="telephony.E010",
            )
        ]
    return []


def _is_http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)
