"""`manage.py provision_twilio`: point a Twilio number at phonebridge (--check, --teardown).

Reference: https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource; the
work is in telephony/twilio/provisioning.py, and the modes, refusals and printing all carriers
share are in telephony/management/provisioning_command.py.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.management.base import CommandError

from telephony.management.provisioning_command import CarrierProvisioning, ProvisioningCommand
from telephony.twilio import provisioning as twilio
from telephony.twilio.client import TwilioClient, TwilioError, get_client
from telephony.twilio.provisioning import Preflight, ProvisioningError, Target


def _uses_api_key() -> bool:
    return bool(settings.TWILIO_API_KEY)


class Command(ProvisioningCommand):
    help = "Point the Twilio number's voice webhook and status callback at phonebridge (--check, --teardown)."
    carrier = "Twilio"
    prefix = "TWILIO"
    credentials_hint = "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN in .env"
    api_error = TwilioError
    provisioning_error = ProvisioningError
    provisioning: ClassVar[CarrierProvisioning] = twilio
    check_width = 16

    def check_credentials(self) -> None:
        where = "copy it from Console > Account Info into .env"
        if not settings.TWILIO_ACCOUNT_SID:
            raise CommandError(f"TWILIO_ACCOUNT_SID is not set: {where}.")
        if _uses_api_key():
            if not settings.TWILIO_API_SECRET:
                raise CommandError(
                    "TWILIO_API_KEY is set but TWILIO_API_SECRET is not: put the key's secret "
                    "(shown once, when the key was created) in .env, or create a new key."
                )
        elif not settings.TWILIO_AUTH_TOKEN:
            raise CommandError(
                f"TWILIO_AUTH_TOKEN is not set: {where} (or set TWILIO_API_KEY and "
                "TWILIO_API_SECRET)."
            )

    def describe_error(self, exc: Exception) -> str:
        assert isinstance(exc, TwilioError)
        return twilio.describe_error(exc, api_key=_uses_api_key())

    def get_client(self) -> TwilioClient:
        return get_client()

    # Set-up --------------------------------------------------------------------------

    def target(self, phone: str, host: str, options: dict[str, Any]) -> Target:
        return Target(
            phone_number=phone,
            voice_url=twilio.voice_url(host),
            status_callback=twilio.status_callback_url(host),
        )

    def print_setup(self, plan: twilio.SetupPlan, result: twilio.SetupResult) -> None:
        target, number = plan.target, result.number
        if result.changed:
            before = result.before
            self.stdout.write(
                self.style.SUCCESS(
                    f"Done: pointed {target.phone_number} ({number['sid']}) at phonebridge "
                    f"(before: voice URL {before['VoiceUrl'] or 'none'} "
                    f"{before['VoiceMethod'] or ''}, status callback "
                    f"{before['StatusCallback'] or 'none'})."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS("Already set up: nothing changed."))
        self.stdout.write(
            f"Incoming calls to {target.phone_number}: POST {target.voice_url}; "
            f"call progress: POST {target.status_callback}."
        )
        if target.phone_number != settings.TWILIO_PHONE_NUMBER:
            self.stdout.write(f"\nPut this in .env:\nTWILIO_PHONE_NUMBER={target.phone_number}")
        if not settings.TWILIO_AUTH_TOKEN:
            self.stdout.write(
                "TWILIO_AUTH_TOKEN=<Console > Account Info > Auth Token> "
                "(Twilio signs webhooks with it: without it every webhook is refused)"
            )

    # Preflight -----------------------------------------------------------------------

    def preflight(self, options: dict[str, Any], host: str | None, host_error: str) -> Preflight:
        return Preflight(
            phone_number=options["phone_number"] or settings.TWILIO_PHONE_NUMBER,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            api_key=_uses_api_key(),
            host=host,
            host_error=host_error,
        )

    # Teardown ------------------------------------------------------------------------

    def nothing_to_tear_down(self, phone: str, hint: str) -> None:
        raise CommandError(
            f"Nothing to tear down: provision_twilio has no record of setting up "
            f"{phone or 'any number'}{hint}. Nothing was changed."
        )

    def torn_down(self) -> str:
        return "Torn down."
