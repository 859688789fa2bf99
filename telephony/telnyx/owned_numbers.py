"""The numbers we own, for the Dial page's "From": from settings, or as Telnyx lists them.

The list is fetched from Telnyx at most every few minutes (a page load should not wait on the
carrier each time), and a failure falls back to the configured number with the reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings

from telephony.carrier import CarrierError
from telephony.telnyx.client import get_client

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class OwnedNumbers:
    numbers: list[str]
    source: str  # said under the field, so the operator knows where the list comes from


_cached: tuple[float, OwnedNumbers] | None = None


def owned_numbers() -> OwnedNumbers:
    configured = [n for n in [settings.TELNYX_PHONE_NUMBER] if n]
    if settings.TELNYX_FROM_NUMBERS:
        numbers = _unique(configured + settings.TELNYX_FROM_NUMBERS)
        return OwnedNumbers(numbers, "TELNYX_FROM_NUMBERS")
    if settings.TELNYX_SIMULATOR:
        return OwnedNumbers(configured, "the embedded simulator's number")
    return _fetched(configured)


def forget_owned_numbers() -> None:
    global _cached
    _cached = None


def _fetched(configured: list[str]) -> OwnedNumbers:
    global _cached
    now = time.monotonic()
    if _cached is not None and now - _cached[0] < CACHE_SECONDS:
        return _cached[1]
    try:
        listed = async_to_sync(_list_from_telnyx)()
    except CarrierError as exc:
        logger.warning("could not list the account's numbers: %s", exc.for_humans())
        return OwnedNumbers(configured, f"TELNYX_PHONE_NUMBER (Telnyx: {exc.for_humans()})")
    owned = OwnedNumbers(_unique(configured + listed), "your Telnyx account")
    _cached = (now, owned)
    return owned


async def _list_from_telnyx() -> list[str]:
    # On the loop async_to_sync runs it on: clients are per event loop.
    return await get_client().list_phone_numbers()


def _unique(numbers: list[str]) -> list[str]:
    return list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
