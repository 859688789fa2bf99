"""System checks for the Twilio settings, each with its fix.

Sid formats: https://www.twilio.com/docs/glossary/what-is-a-sid (an Account SID is "AC" and
32 hex digits, an API key's "SK" and 32). Auth: https://www.twilio.com/docs/iam/api-keys.
Ids are telephony.E1xx / W1xx, beside Telnyx's E0xx.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from telephony.numbers import is_e164

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
API_KEY_SID = re.compile(r"SK[0-9a-fA-F]{32}")
CARRIERS = ("telnyx", "twilio")


@register("telephony")
def check_twilio(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages = _check_carrier()
    if not _configured():
        return messages  # Twilio is not in use: nothing more to say
    messages += _check_account()
    messages += _check_api_key()
    messages += _check_numbers()
    return messages


def _configured() -> bool:
    """Twilio counts as in use once any of its settings is given, or it is the carrier."""
    return bool(
        settings.TWILIO_ACCOUNT_SID
        or settings.TWILIO_AUTH_TOKEN
        or settings.TWILIO_API_KEY
        or settings.TWILIO_PHONE_NUMBER
        or settings.PHONEBRIDGE_CARRIER == "twilio"
    )


def _check_carrier() -> list[CheckMessage]:
    if settings.PHONEBRIDGE_CARRIER in CARRIERS:
        return []
    return [
        Error(
            f"PHONEBRIDGE_CARRIER={settings.PHONEBRIDGE_CARRIER!r} is not one of "
            f"{', '.join(CARRIERS)}.",
            hint="Set PHONEBRIDGE_CARRIER=telnyx (the default) or PHONEBRIDGE_CARRIER=twilio.",
            id="telephony.E101",
        )
    ]


def _check_account() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    sid = settings.TWILIO_ACCOUNT_SID
    if not sid:
        messages.append(
            Error(
                "TWILIO_ACCOUNT_SID is not set, so phonebridge cannot place or control "
                "Twilio calls.",
                hint="Copy the Account SID (AC…) from the Twilio Console's dashboard, or run "
                "with DEBUG=true and no Twilio credentials to use the embedded simulator.",
                id="telephony.E102",
            )
        )
    elif not ACCOUNT_SID.fullmatch(sid):
        messages.append(
            Error(
                f"TWILIO_ACCOUNT_SID={sid[:8]!r}… is not an Account SID.",
                hint="It is 'AC' followed by 32 hexadecimal digits, as the Console's dashboard "
                "shows it (a key's SK… sid goes in TWILIO_API_KEY).",
                id="telephony.E103",
            )
        )
    if not settings.TWILIO_AUTH_TOKEN:
        messages.append(
            Error(
                "TWILIO_AUTH_TOKEN is not set, so every Twilio webhook would be refused with "
                "403 (its signature cannot be checked).",
                hint="Copy the Auth Token from the Twilio Console's dashboard (an API key does "
                "not replace it: webhooks are signed with the Auth Token).",
                id="telephony.E104",
            )
        )
    return messages


def _check_api_key() -> list[CheckMessage]:
    key, secret = settings.TWILIO_API_KEY, settings.TWILIO_API_SECRET
    if key and not API_KEY_SID.fullmatch(key):
        return [
            Error(
                f"TWILIO_API_KEY={key[:8]!r}… is not an API key sid.",
                hint="It is 'SK' followed by 32 hexadecimal digits (Console > Account > "
                "API keys & tokens).",
                id="telephony.E105",
            )
        ]
    if bool(key) != bool(secret):
        missing = "TWILIO_API_SECRET" if key else "TWILIO_API_KEY"
        return [
            Error(
                f"{missing} is not set: an API key needs both its sid and its secret.",
                hint="Set both, or neither to use the Account SID and Auth Token.",
                id="telephony.E106",
            )
        ]
    return []


def _check_numbers() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    numbers = [("TWILIO_PHONE_NUMBER", settings.TWILIO_PHONE_NUMBER)]
    numbers += [("TWILIO_FROM_NUMBERS", n) for n in settings.TWILIO_FROM_NUMBERS]
    for name, number in numbers:
        if number and not is_e164(number):
            messages.append(
                Error(
                    f"{name}={number!r} is not in E.164 form, so Twilio would refuse every call "
                    "with it (error 21212).",
                    hint="Write it as a '+', the country code and the number, digits only, "
                    "for example +15551234567.",
                    id="telephony.E107",
                )
            )
    if not settings.TWILIO_PHONE_NUMBER:
        messages.append(
            Warning(
                "TWILIO_PHONE_NUMBER is not set: Twilio calls cannot be dialed without a From "
                "number chosen on the Dial page.",
                hint="Set it to your Twilio number in E.164, e.g. +15551234567.",
                id="telephony.W101",
            )
        )
    elif settings.TWILIO_FROM_NUMBERS and settings.TWILIO_PHONE_NUMBER not in set(
        settings.TWILIO_FROM_NUMBERS
    ):
        messages.append(
            Warning(
                f"TWILIO_PHONE_NUMBER={settings.TWILIO_PHONE_NUMBER} is not among "
                "TWILIO_FROM_NUMBERS, the numbers you say the account owns.",
                hint="Add it to TWILIO_FROM_NUMBERS, or correct it; `manage.py provision_twilio "
                "--check` asks Twilio which numbers the account owns.",
                id="telephony.W102",
            )
        )
    return messages
