"""`manage.py provision_telnyx`: set up, check or tear down phonebridge's Telnyx account set-up."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from telephony.numbers import is_e164
from telephony.public_host import PublicHostUnknown, public_host
from telephony.telnyx import provisioning
from telephony.telnyx.client import TelnyxClient, TelnyxError, get_client
from telephony.telnyx.provisioning import ApiCall, Preflight, ProvisioningError, SetupPlan, Target
from telephony.telnyx.webhooks import load_public_key

MARKS = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}


class Command(BaseCommand):
    # The system checks fail until .env is complete (no TELNYX_PUBLIC_KEY, no app id): exactly
    # the state this command exists to fix, and --check reports the same problems with fixes.
    requires_system_checks: list[str] = []
    help = "Create or update the Telnyx Call Control App and route the number to it (--check, --teardown)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--check", action="store_true", help="read-only preflight")
        mode.add_argument("--teardown", action="store_true", help="undo what set-up changed")
        parser.add_argument("--dry-run", action="store_true", help="print the API calls only")
        parser.add_argument("--phone-number", default="", help="default: TELNYX_PHONE_NUMBER")
        parser.add_argument("--app-name", default="phonebridge", help="default: phonebridge")
        parser.add_argument("--outbound-voice-profile", default="", metavar="ID")
        parser.add_argument("--to", default="", help="--check: a destination to dial")
        parser.add_argument("--allow-simulator", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        self._check_configuration(options)
        try:
            async_to_sync(self._run)(options)
        except TelnyxError as exc:
            raise CommandError(provisioning.describe_error(exc)) from None
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from None

    def _check_configuration(self, options: dict[str, Any]) -> None:
        api = settings.TELNYX_API_BASE_URL
        if settings.TELNYX_SIMULATOR:
            if not options["allow_simulator"]:
                raise CommandError(
                    f"TELNYX_SIMULATOR is on, so this would provision the simulator at {api}, "
                    "not Telnyx: set TELNYX_API_KEY in .env, or pass --allow-simulator."
                )
            self.stdout.write(self.style.WARNING(f"Simulator mode: talking to {api}, not Telnyx."))
        elif not settings.TELNYX_API_KEY:
            raise CommandError(
                "TELNYX_API_KEY is not set: copy a key from Mission Control > "
                "Keys & Credentials > API Keys into .env."
            )
        # The set-up record lives in the database, and the client logs every request there.
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "The database is not up to date: run `uv run manage.py migrate` first."
            )
        for option in ("phone_number", "to"):
            value = options[option]
            if value and not is_e164(value):
                raise CommandError(
                    f"--{option.replace('_', '-')} {value} is not E.164 (+15551234567)."
                )

    async def _run(self, options: dict[str, Any]) -> None:
        client = get_client()
        try:
            if options["check"]:
                await self._check(client, options)
            elif options["teardown"]:
                await self._teardown(client, options)
            else:
                await self._setup(client, options)
        finally:
            await client.aclose()

    # Set-up --------------------------------------------------------------------------

    async def _setup(self, client: TelnyxClient, options: dict[str, Any]) -> None:
        phone = self._phone_number(options)
        try:
            host = public_host()
        except PublicHostUnknown as exc:
            raise CommandError(str(exc)) from None
        source = "PUBLIC_HOST" if settings.PUBLIC_HOST else "ngrok's local API"
        self.stdout.write(f"Setting up {phone} with Telnyx; public host {host} (from {source}).")
        target = Target(
            phone_number=phone,
            webhook_url=provisioning.webhook_url(host),
            app_name=options["app_name"],
            app_id=settings.TELNYX_CALL_CONTROL_APP_ID,
            profile_id=options["outbound_voice_profile"],
        )
        plan = await provisioning.plan_setup(client, target)
        for note in plan.notes:
            self.stdout.write(self.style.WARNING(note))
        if options["dry_run"]:
            self._print_dry_run(plan.calls())
            return
        result = await provisioning.apply_setup(client, plan, self._print_call)
        self._print_setup(plan, result)

    def _print_setup(self, plan: SetupPlan, result: provisioning.SetupResult) -> None:
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

    async def _check(self, client: TelnyxClient, options: dict[str, Any]) -> None:
        try:
            host, host_error = public_host(), ""
        except PublicHostUnknown as exc:
            host, host_error = None, str(exc)
        preflight = Preflight(
            phone_number=options["phone_number"] or settings.TELNYX_PHONE_NUMBER,
            app_id=settings.TELNYX_CALL_CONTROL_APP_ID,
            app_name=options["app_name"],
            public_key=settings.TELNYX_PUBLIC_KEY,
            host=host,
            host_error=host_error,
            to=options["to"],
        )
        self.stdout.write(
            f"Checking the Telnyx set-up of {preflight.phone_number or '(no number)'}:"
        )
        checks = await provisioning.run_checks(client, preflight)
        for check in checks:
            self._print_check(check)
        failed = sum(check.status == "fail" for check in checks)
        if failed:
            raise CommandError(
                f"{failed} of {len(checks)} checks failed; each fix is printed above."
            )
        self.stdout.write(self.style.SUCCESS("All checks passed."))

    def _print_check(self, check: provisioning.Check) -> None:
        style = {"ok": self.style.SUCCESS, "fail": self.style.ERROR, "skip": self.style.NOTICE}
        mark = style[check.status](MARKS[check.status])
        self.stdout.write(f"{mark}  {check.name:<20} {check.detail}")
        if check.fix:
            self.stdout.write(f"      {'':<20} fix: {check.fix}")

    # Teardown ------------------------------------------------------------------------

    async def _teardown(self, client: TelnyxClient, options: dict[str, Any]) -> None:
        phone = options["phone_number"] or settings.TELNYX_PHONE_NUMBER
        record = await provisioning.active_record(phone)
        if record is None:
            other = await provisioning.active_record()
            hint = f" (it has set up {other.phone_number}: pass --phone-number)" if other else ""
            self.stdout.write(
                f"Nothing to tear down: no active set-up of {phone or 'any number'}{hint}."
            )
            return
        self.stdout.write(
            f"Tearing down the set-up of {record.phone_number} from {record.created_at:%Y-%m-%d %H:%M} UTC."
        )
        plan = await provisioning.plan_teardown(client, record)
        for note in plan.notes:
            self.stdout.write(note)
        if options["dry_run"]:
            self._print_dry_run(plan.calls())
            return
        await provisioning.apply_teardown(client, plan, self._print_call)
        self.stdout.write(
            self.style.SUCCESS(
                "Torn down. Remove TELNYX_CALL_CONTROL_APP_ID and TELNYX_PHONE_NUMBER_ID from .env if you set them."
            )
        )

    # Shared --------------------------------------------------------------------------

    def _phone_number(self, options: dict[str, Any]) -> str:
        phone = options["phone_number"] or settings.TELNYX_PHONE_NUMBER
        if not phone:
            raise CommandError(
                "No phone number: set TELNYX_PHONE_NUMBER in .env or pass --phone-number."
            )
        if not is_e164(phone):
            raise CommandError(f"TELNYX_PHONE_NUMBER={phone} is not E.164 (+15551234567).")
        return phone

    def _print_call(self, call: ApiCall) -> None:
        self.stdout.write(f"> {call}")

    def _print_dry_run(self, calls: list[ApiCall]) -> None:
        if not calls:
            self.stdout.write("Dry run: nothing would change.")
            return
        self.stdout.write("Dry run: these requests would be sent (nothing was changed):")
        for call in calls:
            self._print_call(call)


def _valid_public_key(value: str) -> bool:
    try:
        load_public_key(value)
    except ValueError:
        return False
    return True
