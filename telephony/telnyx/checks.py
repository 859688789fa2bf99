"""System checks for the Telnyx settings: credentials, the webhook public key, the verification
switch and the media-streaming options (telnyx-protocol.md §1.5-1.7, §2.3)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from telephony.numbers import is_e164
from telephony.telnyx.webhooks import load_public_key

SUPPORTED_BIDIRECTIONAL_CODECS = ("PCMU", "PCMA", "L16")
TARGET_LEGS = ("self", "opposite", "both")


@register("telephony")
def check_telnyx(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not settings.TELNYX_SIMULATOR:
        messages += _check_credentials()
    messages += _check_public_key()
    messages += _check_phone_numbers()
    messages += _check_verification_switch()
    messages += _check_media_options()
    return messages


def _check_credentials() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not settings.TELNYX_API_KEY:
        messages.append(
            Error(
                "TELNYX_API_KEY is not set, so phonebridge cannot answer or place calls.",
                hint="Create an API key in Telnyx Mission Control (Keys & Credentials), or run "
                "with DEBUG=true and no key to use the embedded simulator.",
                id="telephony.E007",
            )
        )
    if not settings.TELNYX_PUBLIC_KEY and not settings.TELNYX_SKIP_SIGNATURE_VERIFICATION:
        messages.append(
            Error(
                "TELNYX_PUBLIC_KEY is not set, so every webhook would be refused with 403.",
                hint="Copy the account's Ed25519 public key (base64) from Mission Control, "
                "Keys & Credentials > Public Key.",
                id="telephony.E001",
            )
        )
    if not settings.TELNYX_CALL_CONTROL_APP_ID:
        messages.append(
            Warning(
                "TELNYX_CALL_CONTROL_APP_ID is not set: outbound calls cannot be dialed.",
                hint="Run `manage.py provision_telnyx` and copy the id it prints into .env.",
                id="telephony.W002",
            )
        )
    return messages


def _check_public_key() -> list[CheckMessage]:
    if not settings.TELNYX_PUBLIC_KEY:
        return []
    try:
        load_public_key(settings.TELNYX_PUBLIC_KEY)
    except ValueError as exc:
        return [
            Error(
                f"TELNYX_PUBLIC_KEY {exc}.",
                hint="It must be the base64 of the 32-byte Ed25519 public key (or its DER form) "
                "exactly as Mission Control shows it.",
                id="telephony.E002",
            )
        ]
    return []


def _check_phone_numbers() -> list[CheckMessage]:
    numbers = [("TELNYX_PHONE_NUMBER", settings.TELNYX_PHONE_NUMBER)]
    numbers += [("TELNYX_FROM_NUMBERS", n) for n in getattr(settings, "TELNYX_FROM_NUMBERS", [])]
    return [
        Error(
            f"{name}={number!r} is not in E.164 form, so Telnyx would refuse every call with it.",
            hint="Write it as a '+', the country code and the number, digits only, "
            "for example +15551234567.",
            id="telephony.E009",
        )
        for name, number in numbers
        if number and not is_e164(number)
    ]


def _check_verification_switch() -> list[CheckMessage]:
    if not settings.TELNYX_SKIP_SIGNATURE_VERIFICATION:
        return []
    if not settings.DEBUG:
        return [
            Warning(
                "TELNYX_SKIP_SIGNATURE_VERIFICATION is ignored because DEBUG is off.",
                hint="Webhooks are verified in production whatever this setting says; remove it.",
                id="telephony.W001",
            )
        ]
    return [
        Warning(
            "Webhook signature verification is OFF (TELNYX_SKIP_SIGNATURE_VERIFICATION).",
            hint="Anyone who can reach /telnyx/events can forge calls. Remove the setting.",
            id="telephony.W003",
        )
    ]


def _check_media_options() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if settings.STREAM_BIDIRECTIONAL_CODEC not in SUPPORTED_BIDIRECTIONAL_CODECS:
        messages.append(
            Error(
                f"STREAM_BIDIRECTIONAL_CODEC={settings.STREAM_BIDIRECTIONAL_CODEC!r} is not "
                f"supported (case-sensitive: {', '.join(SUPPORTED_BIDIRECTIONAL_CODECS)}).",
                id="telephony.E005",
            )
        )
    if settings.STREAM_BIDIRECTIONAL_TARGET_LEGS not in TARGET_LEGS:
        messages.append(
            Error(
                f"STREAM_BIDIRECTIONAL_TARGET_LEGS={settings.STREAM_BIDIRECTIONAL_TARGET_LEGS!r} "
                f"is not one of {', '.join(TARGET_LEGS)}.",
                id="telephony.E006",
            )
        )
    return messages
