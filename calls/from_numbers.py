"""The numbers the Dial page offers as "From", grouped by the carrier that owns each.

A caller id only works on the carrier it belongs to, so the chosen From number decides the
carrier (telephony.dialing.carrier_for_number). Telnyx's numbers come from
telephony.telnyx.owned_numbers; Twilio's from TWILIO_PHONE_NUMBER and TWILIO_FROM_NUMBERS,
the embedded simulator's number, or the account's IncomingPhoneNumbers (fetched through
telephony.twilio.client at most every few minutes, falling back to the configured number
with the reason when Twilio does not answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from calls.account_numbers import AccountNumbers, unique_numbers
from calls.models import Call


@dataclass(frozen=True)
class CarrierNumbers:
    carrier: str  # Call.Carrier value
    label: str  # "Telnyx", "Twilio"
    numbers: list[str]
    source: str  # where the list comes from, said under the field


_twilio_listed = AccountNumbers("Twilio", "TWILIO_PHONE_NUMBER")


def from_numbers() -> list[CarrierNumbers]:
    """Each configured carrier's numbers; Telnyx alone when no carrier is configured at all
    (its message then says which setting is missing)."""
    groups = []
    if _telnyx_configured() or not _twilio_configured():
        groups.append(_telnyx())
    if _twilio_configured():
        groups.append(twilio_numbers())
    # The default carrier's numbers first: its first number is the form's initial From.
    return sorted(groups, key=lambda g: g.carrier != settings.PHONEBRIDGE_CARRIER)


def forget_from_numbers() -> None:
    _twilio_listed.forget()
    from telephony.telnyx.owned_numbers import forget_owned_numbers

    forget_owned_numbers()


def _telnyx_configured() -> bool:
    return bool(
        settings.TELNYX_SIMULATOR
        or settings.TELNYX_API_KEY
        or settings.TELNYX_PHONE_NUMBER
        or settings.TELNYX_FROM_NUMBERS
    )


def _twilio_configured() -> bool:
    return bool(
        settings.TWILIO_SIMULATOR
        or settings.TWILIO_PHONE_NUMBER
        or settings.TWILIO_FROM_NUMBERS
        or (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)
    )


def _telnyx() -> CarrierNumbers:
    from telephony.telnyx.owned_numbers import owned_numbers

    owned = owned_numbers()
    return CarrierNumbers(Call.Carrier.TELNYX, "Telnyx", owned.numbers, owned.source)


def twilio_numbers() -> CarrierNumbers:
    configured = [n for n in [settings.TWILIO_PHONE_NUMBER] if n]
    if settings.TWILIO_FROM_NUMBERS:
        numbers = unique_numbers(configured + list(settings.TWILIO_FROM_NUMBERS))
        return _twilio(numbers, "TWILIO_FROM_NUMBERS")
    if settings.TWILIO_SIMULATOR:
        return _twilio(configured, "the embedded Twilio simulator's number")
    if not (settings.TWILIO_AUTH_TOKEN or settings.TWILIO_API_KEY):
        return _twilio(configured, "TWILIO_PHONE_NUMBER")
    return _twilio(*_twilio_listed.get(configured, _list_from_twilio))


async def _list_from_twilio() -> list[str]:
    # On the loop async_to_sync runs it on: clients are per event loop.
    from telephony.twilio.client import get_client

    numbers = await get_client().list_incoming_numbers()
    # Only numbers that can place voice calls; "capabilities" is absent on old resources.
    return [
        str(n["phone_number"])
        for n in numbers
        if n.get("phone_number") and _can_call(n.get("capabilities"))
    ]


def _can_call(capabilities: object) -> bool:
    return not isinstance(capabilities, dict) or capabilities.get("voice", True) is not False


def _twilio(numbers: list[str], source: str) -> CarrierNumbers:
    return CarrierNumbers(Call.Carrier.TWILIO, "Twilio", numbers, source)
