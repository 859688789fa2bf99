"""The numbers we own, for the Dial page's "From": from settings, or as Telnyx lists them.

The list is fetched from Telnyx at most every few minutes, and a failure falls back to the
configured number with the reason (calls.account_numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from calls.account_numbers import AccountNumbers, unique_numbers
from telephony.telnyx.client import get_client


@dataclass(frozen=True)
class OwnedNumbers:
    numbers: list[str]
    source: str  # said under the field, so the operator knows where the list comes from


_listed = AccountNumbers("Telnyx", "TELNYX_PHONE_NUMBER")


def owned_numbers() -> OwnedNumbers:
    configured = [n for n in [settings.TELNYX_PHONE_NUMBER] if n]
    if settings.TELNYX_FROM_NUMBERS:
        numbers = unique_numbers(configured + settings.TELNYX_FROM_NUMBERS)
        return OwnedNumbers(numbers, "TELNYX_FROM_NUMBERS")
    if settings.TELNYX_SIMULATOR:
        return OwnedNumbers(configured, "the embedded simulator's number")
    return OwnedNumbers(*_listed.get(configured, _list_from_telnyx))


def forget_owned_numbers() -> None:
    _listed.forget()


async def _list_from_telnyx() -> list[str]:
    return await get_client().list_phone_numbers()
