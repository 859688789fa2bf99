"""What `provision_telnyx` and `provision_twilio` share: options, refusals, printing, teardown.

A carrier's command says how to talk to its API and what its set-up is; this base class runs
the three modes (set-up, `--check`, `--teardown`, each with `--dry-run` where it changes
anything) and prints them the same way for every carrier, so an operator who knows one
command knows the other.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from argparse import ArgumentParser
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from telephony.numbers import is_e164
from telephony.preflight import Check
from telephony.provisioning_record import ProvisioningRecord
from telephony.public_host import PublicHostUnknown, public_host

MARKS = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}

Announce = Callable[[Any], None]


class Plan(Protocol):
    """A carrier's set-up or teardown plan: what it found worth saying, what it would send."""

    @property
    def notes(self) -> list[str]: ...

    def calls(self) -> Sequence[object]: ...


class CarrierProvisioning(Protocol):
    """What a carrier's provisioning module (telephony/<carrier>/provisioning.py) offers.

    The module itself is the implementation: its functions take its own client, plans and
    records, which this layer only passes back to it.
    """

    async def plan_setup(self, client: Any, target: Any) -> Any: ...

    async def apply_setup(self, client: Any, plan: Any, announce: Announce) -> Any: ...

    async def run_checks(self, client: Any, preflight: Any) -> list[Check]: ...

    async def active_record(self, phone_number: str = "") -> Any: ...

    async def plan_teardown(self, client: Any, record: Any) -> Any: ...

    async def apply_teardown(self, client: Any, plan: Any, announce: Announce) -> None: ...


class ProvisioningCommand(BaseCommand, metaclass=ABCMeta):
    # The system checks fail until .env is complete (no webhook key, no app or number):
    # exactly the state these commands exist to fix, and --check reports the same problems
    # with their fixes.
    requires_system_checks: list[str] = []

    carrier: ClassVar[str]  # as operators read it: "Telnyx"
    prefix: ClassVar[str]  # of the carrier's settings: "TELNYX"
    credentials_hint: ClassVar[str]  # what to set instead of using the simulator
    api_error: ClassVar[type[Exception]]  # the client's failure, described by describe_error
    provisioning_error: ClassVar[type[Exception]]  # a failure whose message says the fix
    number_options: ClassVar[tuple[str, ...]] = ("phone_number",)  # options holding E.164
    check_width: ClassVar[int]  # of the check-name column in --check's table
    provisioning: ClassVar[CarrierProvisioning]  # telephony.<carrier>.provisioning

    # What each carrier says and does ---------------------------------------------------

    def add_carrier_arguments(self, parser: ArgumentParser) -> None:
        """Options of this carrier's own, after the shared ones."""

    @abstractmethod
    def check_credentials(self) -> None:
        """Raise CommandError when the API credentials in .env are missing."""

    @abstractmethod
    def describe_error(self, exc: Exception) -> str:
        """One line for an operator about a failed API request (an `api_error`)."""

    @abstractmethod
    def get_client(self) -> Any:
        """The carrier's API client (closed with `aclose()` once the command is done)."""

    @abstractmethod
    def target(self, phone: str, host: str, options: dict[str, Any]) -> Any:
        """What set-up should leave: `phone` answered at the public `host`."""

    @abstractmethod
    def print_setup(self, plan: Any, result: Any) -> None:
        """What set-up did, and what to put in .env."""

    @abstractmethod
    def preflight(self, options: dict[str, Any], host: str | None, host_error: str) -> Any:
        """What --check checks, with the public host (None, and why, when there is none)."""

    @abstractmethod
    def nothing_to_tear_down(self, phone: str, hint: str) -> None:
        """Say (or refuse with CommandError) that no set-up of `phone` is on record."""

    @abstractmethod
    def torn_down(self) -> str:
        """The line that ends a teardown."""

    # Shared -----------------------------------------------------------------------------

    def setting(self, name: str) -> Any:
        return getattr(settings, f"{self.prefix}_{name}")

    def add_arguments(self, parser: ArgumentParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--check", action="store_true", help="read-only preflight")
        mode.add_argument("--teardown", action="store_true", help="undo what set-up changed")
        parser.add_argument("--dry-run", action="store_true", help="print the API calls only")
        parser.add_argument(
            "--phone-number", default="", help=f"default: {self.prefix}_PHONE_NUMBER"
        )
        self.add_carrier_arguments(parser)
        parser.add_argument("--allow-simulator", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        self._check_configuration(options)
        try:
            async_to_sync(self._run)(options)
        except self.api_error as exc:
            raise CommandError(self.describe_error(exc)) from None
        except self.provisioning_error as exc:
            raise CommandError(str(exc)) from None

    def _check_configuration(self, options: dict[str, Any]) -> None:
        api = self.setting("API_BASE_URL")
        if self.setting("SIMULATOR"):
            if not options["allow_simulator"]:
                raise CommandError(
                    f"{self.prefix}_SIMULATOR is on, so this would provision the simulator at "
                    f"{api}, not {self.carrier}: {self.credentials_hint}, or pass "
                    "--allow-simulator."
                )
            self.stdout.write(
                self.style.WARNING(f"Simulator mode: talking to {api}, not {self.carrier}.")
            )
        else:
            self.check_credentials()
        # The set-up record lives in the database, and the client logs every request there.
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "The database is not up to date: run `uv run manage.py migrate` first."
            )
        for option in self.number_options:
            value = options[option]
            if value and not is_e164(value):
                raise CommandError(
                    f"--{option.replace('_', '-')} {value} is not E.164 (+15551234567)."
                )

    async def _run(self, options: dict[str, Any]) -> None:
        client = self.get_client()
        try:
            if options["check"]:
                await self._check(client, options)
            elif options["teardown"]:
                await self._teardown(client, options)
            else:
                await self._setup(client, options)
        finally:
            await client.aclose()

    # Set-up -----------------------------------------------------------------------------

    async def _setup(self, client: Any, options: dict[str, Any]) -> None:
        phone = self._phone_number(options)
        try:
            host = public_host()
        except PublicHostUnknown as exc:
            raise CommandError(str(exc)) from None
        source = "PUBLIC_HOST" if settings.PUBLIC_HOST else "ngrok's local API"
        self.stdout.write(
            f"Setting up {phone} with {self.carrier}; public host {host} (from {source})."
        )
        provisioning = self.provisioning
        plan = await provisioning.plan_setup(client, self.target(phone, host, options))
        if self.preview(plan, options):
            return
        result = await provisioning.apply_setup(client, plan, self.print_call)
        self.print_setup(plan, result)

    def _phone_number(self, options: dict[str, Any]) -> str:
        name = f"{self.prefix}_PHONE_NUMBER"
        phone = options["phone_number"] or self.setting("PHONE_NUMBER")
        if not phone:
            raise CommandError(f"No phone number: set {name} in .env or pass --phone-number.")
        if not is_e164(phone):
            raise CommandError(f"{name}={phone} is not E.164 (+15551234567).")
        return str(phone)

    def preview(self, plan: Plan, options: dict[str, Any], *, warn: bool = True) -> bool:
        """Print the plan's notes, and under --dry-run its requests: True when that is all."""
        for note in plan.notes:
            self.stdout.write(self.style.WARNING(note) if warn else note)
        if not options["dry_run"]:
            return False
        calls = plan.calls()
        if not calls:
            self.stdout.write("Dry run: nothing would change.")
            return True
        self.stdout.write("Dry run: these requests would be sent (nothing was changed):")
        for call in calls:
            self.print_call(call)
        return True

    def print_call(self, call: object) -> None:
        self.stdout.write(f"> {call}")

    # Preflight --------------------------------------------------------------------------

    async def _check(self, client: Any, options: dict[str, Any]) -> None:
        try:
            host, host_error = public_host(), ""
        except PublicHostUnknown as exc:
            host, host_error = None, str(exc)
        preflight = self.preflight(options, host, host_error)
        phone = preflight.phone_number or "(no number)"
        self.stdout.write(f"Checking the {self.carrier} set-up of {phone}:")
        checks = await self.provisioning.run_checks(client, preflight)
        for check in checks:
            self._print_check(check)
        failed = sum(check.status == "fail" for check in checks)
        if failed:
            raise CommandError(
                f"{failed} of {len(checks)} checks failed; each fix is printed above."
            )
        self.stdout.write(self.style.SUCCESS("All checks passed."))

    def _print_check(self, check: Check) -> None:
        style = {"ok": self.style.SUCCESS, "fail": self.style.ERROR, "skip": self.style.NOTICE}
        mark = style[check.status](MARKS[check.status])
        width = self.check_width
        self.stdout.write(f"{mark}  {check.name:<{width}} {check.detail}")
        if check.fix:
            self.stdout.write(f"      {'':<{width}} fix: {check.fix}")

    # Teardown ---------------------------------------------------------------------------

    async def _teardown(self, client: Any, options: dict[str, Any]) -> None:
        phone = options["phone_number"] or self.setting("PHONE_NUMBER")
        record: ProvisioningRecord | None = await self.provisioning.active_record(phone)
        if record is None:
            other = await self.provisioning.active_record()
            hint = f" (it has set up {other.phone_number}: pass --phone-number)" if other else ""
            self.nothing_to_tear_down(phone, hint)
            return
        self.stdout.write(
            f"Tearing down the set-up of {record.phone_number} from "
            f"{record.set_up_at:%Y-%m-%d %H:%M} UTC."
        )
        plan = await self.provisioning.plan_teardown(client, record)
        if self.preview(plan, options, warn=False):
            return
        await self.provisioning.apply_teardown(client, plan, self.print_call)
        self.stdout.write(self.style.SUCCESS(self.torn_down()))
