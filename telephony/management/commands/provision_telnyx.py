"""`manage.py provision_telnyx`: set up, check or tear down phonebridge's Telnyx account set-up.

The work is in telephony/telnyx/provisioning.py; the modes, refusals and printing all carriers
share are in telephony/management/provisioning_command.py.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any, ClassVar

from django.conf import settings
from django.core.management.base import CommandError

from telephony.management.provisioning_command import CarrierProvisioning, ProvisioningCommand
from telephony.telnyx import provisioning as telnyx
from telephony.telnyx.client import TelnyxClient, TelnyxError, get_client
from telephony.telnyx.provisioning import Preflight, ProvisioningError, Target
from telephony.telnyx.webhooks import load_public_key


class Command(ProvisioningCommand):
    help = "Create or update the Telnyx Call Control App and route the number to it (--check, --teardown)."
    carrier = "Telnyx"
    prefix = "TELNYX"
    credentials_hint = "set TELNYX_API_KEY in .env"
    api_error = TelnyxError
    provisioning_error = ProvisioningError
    provisioning: ClassVar[CarrierProvisioning] = telnyx
    number_options = ("phone_number", "to")
    check_width = 20

    def add_carrier_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--app-name", default="phonebridge", help="default: phonebridge")
        parser.add_argument("--outbound-voice-profile", default="", metavar="ID")
        parser.add_argument("--to", default="", help="--check: a destination to dial")

    def check_credentials(self) -> None:
        if not settings.TELNYX_API_KEY:
            raise CommandError(
                "TELNYX_API_KEY is not set: copy a key from Mission Control > "
                "Keys & Credentials > API Keys into .env."
            )

    def describe_error(self, exc: Exception) -> str:
        assert isinstance(exc, TelnyxError)
        return telnyx.describe_error(exc)

    def get_client(self) -> TelnyxClient:
        return get_client()

    # Set-up --------------------------------------------------------------------------

    def target(self, phone: str, host: str, options: dict[str, Any]) -> Target:
        return Target(
            phone_number=phone,
            webhook_url=telnyx.webhook_url(host),
            app_name=options["app_name"],
            app_id=settings.TELNYX_CALL_CONTROL_APP_ID,
            profile_id=options["outbound_voice_profile"],
        )

    def print_setup(self, plan: telnyx.SetupPlan, result: telnyx.SetupResult) -> None:
        app, number = result.app, result.number
        label = f"{app.get('application_name', '')!r} ({app['id']})"
        done = []
        if result.created_app:
            done.append(f"created app {label}")
        if result.updated_app:
            done.append(f"updated app {label}")
        if result.routed_from is not None:
            before = f"connection {result.routed_from}" if result.routed_from else "no connection"
            done.append(f"routed {number['phone_number']} to it (before: {before})")
        if done:
            self.stdout.write(self.style.SUCCESS("Done: " + "; ".join(done) + "."))
        else:
            self.stdout.write(self.style.SUCCESS("Already set up: nothing changed."))
        profile = plan.profile["id"] if plan.profile else "none"
        self.stdout.write(
            f"App {label}: webhooks (API v2) to {app.get('webhook_event_url')}, "
            f"outbound voice profile {profile}; {number['phone_number']} routes to it."
        )
        self._print_env(app_id=str(app["id"]), number_id=str(number["id"]))

    def _print_env(self, *, app_id: str, number_id: str) -> None:
        current = (settings.TELNYX_CALL_CONTROL_APP_ID, settings.TELNYX_PHONE_NUMBER_ID)
        heading = (
            "Your .env has these already:"
            if current == (app_id, number_id)
            else "Put these in .env:"
        )
        self.stdout.write(f"\n{heading}")
        self.stdout.write(f"TELNYX_CALL_CONTROL_APP_ID={app_id}")
        self.stdout.write(f"TELNYX_PHONE_NUMBER_ID={number_id}")
        if _valid_public_key(settings.TELNYX_PUBLIC_KEY):
            self.stdout.write("TELNYX_PUBLIC_KEY is set: it must be this account's key.")
        else:
            self.stdout.write(
                "TELNYX_PUBLIC_KEY=<Mission Control > Keys & Credentials > Public Key> "
                "(without it every webhook is refused)"
            )

    # Preflight -----------------------------------------------------------------------

    def preflight(self, options: dict[str, Any], host: str | None, host_error: str) -> Preflight:
        return Preflight(
            phone_number=options["phone_number"] or settings.TELNYX_PHONE_NUMBER,
            app_id=settings.TELNYX_CALL_CONTROL_APP_ID,
            app_name=options["app_name"],
            public_key=settings.TELNYX_PUBLIC_KEY,
            host=host,
            host_error=host_error,
            to=options["to"],
        )

    # Teardown ------------------------------------------------------------------------

    def nothing_to_tear_down(self, phone: str, hint: str) -> None:
        self.stdout.write(
            f"Nothing to tear down: no active set-up of {phone or 'any number'}{hint}."
        )

    def torn_down(self) -> str:
        return (
            "Torn down. Remove TELNYX_CALL_CONTROL_APP_ID and TELNYX_PHONE_NUMBER_ID from .env "
            "if you set them."
        )


def _valid_public_key(value: str) -> bool:
    try:
        load_public_key(value)
    except ValueError:
        return False
    return True
