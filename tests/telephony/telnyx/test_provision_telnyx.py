"""`manage.py provision_telnyx` against the Telnyx simulator's account API, over real HTTP.

The tests set up the simulator's account (profiles, apps, numbers) directly, run the command
as an operator would, then read back what it changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import ManagementUtility
from django.db.migrations.executor import MigrationExecutor

from calls.models import CarrierCommand
from telephony.models import TelnyxProvisioning
from telephony.telnyx.simulator.account import Account
from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.server import RunningSimulator, running_simulator
from tests.live import free_port
from tests.telephony import provisioning_helpers as helpers

pytestmark = pytest.mark.django_db

KEY = "KEYPROVISIONING"
NUMBER = "+15550001111"
WEBHOOK = "https://phonebridge.test/telnyx/events"


@pytest.fixture
def simulator(settings) -> Iterator[RunningSimulator]:
    carrier = Carrier()
    carrier.seed(api_keys=[KEY])
    with helpers.simulator_thread(running_simulator(carrier), "telnyx-simulator") as sim:
        settings.TELNYX_SIMULATOR = False
        settings.TELNYX_API_KEY = KEY
        settings.TELNYX_API_BASE_URL = sim.base_url
        settings.TELNYX_API_MAX_ATTEMPTS = 2
        yield sim


@pytest.fixture
def account(simulator: RunningSimulator) -> Account:
    """A new user's account: one enabled profile, the number on an older app ("legacy")."""
    account = simulator.carrier.account
    account.add_outbound_voice_profile("Default")
    legacy = account.create_application(
        {"application_name": "legacy IVR", "webhook_event_url": "https://legacy.example/hook"}
    )
    account.add_phone_number(NUMBER, connection_id=legacy["id"])
    return account


@pytest.fixture
def health_server(settings) -> Iterator[helpers.TinyServer]:
    with helpers.healthy_public_host(settings) as server:
        yield server


def provision(*args: str) -> str:
    return helpers.run_command("provision_telnyx", *args)


def failing(*args: str) -> tuple[str, str]:
    return helpers.failing_command("provision_telnyx", *args)


def app_named(account: Account, name: str = "phonebridge") -> dict[str, Any]:
    [app] = [a for a in account.applications.values() if a["application_name"] == name]
    return app


def number(account: Account) -> dict[str, Any]:
    record = account.number_record(NUMBER)
    assert record is not None
    return record


def legacy_id(account: Account) -> str:
    return app_named(account, "legacy IVR")["id"]


# Set-up ----------------------------------------------------------------------------------


def test_it_creates_the_app_and_routes_the_number_on_a_fresh_account(account):
    legacy = legacy_id(account)

    output = provision()

    app = app_named(account)
    [profile] = account.outbound_voice_profiles
    assert app["webhook_event_url"] == WEBHOOK
    assert app["webhook_api_version"] == "2"
    assert app["active"] is True
    assert app["outbound"]["outbound_voice_profile_id"] == profile
    assert number(account)["connection_id"] == app["id"]
    assert f"TELNYX_CALL_CONTROL_APP_ID={app['id']}" in output
    assert f"TELNYX_PHONE_NUMBER_ID={number(account)['id']}" in output
    assert "TELNYX_PUBLIC_KEY" in output
    assert f"routed {NUMBER} to it (before: connection {legacy})" in output
    routing = f'> PATCH /phone_numbers/{number(account)["id"]} {{"connection_id": "{app["id"]}"}}'
    assert routing in output  # printed as sent, with the new app's id
    record = TelnyxProvisioning.objects.get()
    assert (record.app_id, record.app_created_by_us) == (app["id"], True)
    assert (record.number_routed_by_us, record.previous_connection_id) == (True, legacy)
    assert record.phone_number_id == number(account)["id"]
    assert record.webhook_event_url == WEBHOOK


def test_it_runs_from_the_command_line_before_the_system_checks_pass(account, settings, capsys):
    # A new user has no TELNYX_PUBLIC_KEY yet (system check telephony.E001), and manage.py
    # runs the system checks that call_command skips: set-up must run all the same.
    settings.TELNYX_PUBLIC_KEY = ""

    ManagementUtility(["manage.py", "provision_telnyx"]).execute()

    assert (
        "TELNYX_PUBLIC_KEY=<Mission Control > Keys & Credentials > Public Key>"
        in capsys.readouterr().out
    )


def test_it_says_when_the_configured_app_id_is_not_on_the_account(account, settings):
    settings.TELNYX_CALL_CONTROL_APP_ID = "1234567890"

    output = provision()

    assert "TELNYX_CALL_CONTROL_APP_ID=1234567890 is not an app on this account" in output
    assert "Put these in .env:" in output


def test_it_changes_nothing_when_run_twice(account):
    provision()
    app_before = dict(app_named(account))
    commands_before = CarrierCommand.objects.count()

    output = provision()

    assert "Already set up: nothing changed." in output
    assert "> " not in output  # no API call printed, so none made
    assert app_named(account) == app_before
    assert CarrierCommand.objects.count() == commands_before
    assert TelnyxProvisioning.objects.count() == 1


def test_it_finds_the_app_through_telnyx_call_control_app_id(account, settings):
    app = account.create_application(
        {"application_name": "my agent", "webhook_event_url": "https://old.ngrok.app/telnyx/events"}
    )
    settings.TELNYX_CALL_CONTROL_APP_ID = app["id"]

    provision()

    assert account.applications[app["id"]]["webhook_event_url"] == WEBHOOK
    assert number(account)["connection_id"] == app["id"]
    assert not [a for a in account.applications.values() if a["application_name"] == "phonebridge"]


def test_it_updates_an_app_whose_webhook_url_drifted(account):
    provision()
    app = app_named(account)
    app["webhook_event_url"] = "https://old-tunnel.ngrok.app/telnyx/events"

    output = provision()

    assert app_named(account)["webhook_event_url"] == WEBHOOK
    assert f"> PATCH /call_control_applications/{app['id']}" in output
    assert f"updated app 'phonebridge' ({app['id']})" in output
    assert "/phone_numbers/" not in output  # the number was already routed
    record = TelnyxProvisioning.objects.get()
    assert record.app_created_by_us is True  # still ours after the update
    assert record.webhook_event_url == WEBHOOK


def test_it_fixes_an_existing_v1_inactive_app_without_a_profile(account):
    # Apps created through the API default to webhook_api_version "1", as on Telnyx.
    existing = account.create_application(
        {"application_name": "phonebridge", "webhook_event_url": WEBHOOK, "active": False}
    )
    assert existing["webhook_api_version"] == "1"

    provision()

    app = account.applications[existing["id"]]
    assert (app["webhook_api_version"], app["active"]) == ("2", True)
    assert app["outbound"]["outbound_voice_profile_id"] in account.outbound_voice_profiles
    assert TelnyxProvisioning.objects.get().app_created_by_us is False


def test_it_attaches_the_outbound_voice_profile_it_is_given(account):
    chosen = account.add_outbound_voice_profile("International")

    provision("--outbound-voice-profile", chosen["id"])

    assert app_named(account)["outbound"]["outbound_voice_profile_id"] == chosen["id"]


def test_it_refuses_a_disabled_outbound_voice_profile(account):
    disabled = account.add_outbound_voice_profile("Off", enabled=False)

    _, error = failing("--outbound-voice-profile", disabled["id"])

    assert f"Outbound voice profile {disabled['id']} is disabled" in error
    assert "Enabled profiles:" in error
    assert not [a for a in account.applications.values() if a["application_name"] == "phonebridge"]


def test_it_warns_when_no_outbound_voice_profile_is_enabled(simulator):
    account = simulator.carrier.account
    account.add_phone_number(NUMBER)

    output = provision()

    assert "No enabled outbound voice profile" in output
    assert "Outbound Voice Profiles" in output
    assert number(account)["connection_id"] == app_named(account)["id"]


def test_it_refuses_a_number_that_is_not_on_the_account(account):
    _, error = failing("--phone-number", "+15559998888")

    assert "+15559998888 is not a number on this Telnyx account" in error


def test_dry_run_prints_the_calls_and_changes_nothing(account):
    legacy = legacy_id(account)

    output = provision("--dry-run")

    assert "Dry run: these requests would be sent (nothing was changed):" in output
    assert '> POST /call_control_applications {"application_name": "phonebridge"' in output
    assert '"webhook_api_version": "2"' in output
    assert (
        f'> PATCH /phone_numbers/{number(account)["id"]} {{"connection_id": "<id of the new app>"}}'
        in output
    )
    assert [a["application_name"] for a in account.applications.values()] == ["legacy IVR"]
    assert number(account)["connection_id"] == legacy
    assert not TelnyxProvisioning.objects.exists()
    assert not CarrierCommand.objects.exists()


# Public host -----------------------------------------------------------------------------


@pytest.fixture
def no_public_host(settings) -> Iterator[None]:
    with helpers.unset_public_host(settings):
        yield


def test_it_finds_the_host_through_ngroks_local_api(account, no_public_host, monkeypatch):
    with helpers.ngrok_agent(monkeypatch, "https://abc123.ngrok.app"):
        output = provision()

    assert "public host abc123.ngrok.app (from ngrok's local API)" in output
    assert app_named(account)["webhook_event_url"] == "https://abc123.ngrok.app/telnyx/events"


def test_it_asks_for_ngrok_when_there_is_no_public_host(account, no_public_host, monkeypatch):
    helpers.no_ngrok_agent(monkeypatch)

    _, error = failing()

    assert "start `ngrok http 8000`" in error
    assert [a["application_name"] for a in account.applications.values()] == ["legacy IVR"]


# Teardown --------------------------------------------------------------------------------


def test_teardown_restores_the_routing_and_deletes_the_app_it_created(account):
    legacy = legacy_id(account)
    provision()
    created = app_named(account)["id"]

    output = provision("--teardown")

    assert number(account)["connection_id"] == legacy
    assert created not in account.applications
    assert legacy in account.applications
    assert (
        f'> PATCH /phone_numbers/{number(account)["id"]} {{"connection_id": "{legacy}"}}' in output
    )
    assert f"> DELETE /call_control_applications/{created}" in output
    assert TelnyxProvisioning.objects.get().torn_down_at is not None


def test_teardown_unassigns_a_number_that_had_no_routing(simulator):
    account = simulator.carrier.account
    account.add_outbound_voice_profile("Default")
    account.add_phone_number(NUMBER)
    provision()

    provision("--teardown")

    assert number(account)["connection_id"] is None
    assert account.applications == {}


def test_teardown_keeps_an_app_that_existed_before(account):
    existing = account.create_application(
        {
            "application_name": "phonebridge",
            "webhook_event_url": "https://old.ngrok.app/telnyx/events",
        }
    )
    provision()

    output = provision("--teardown")

    assert existing["id"] in account.applications
    assert number(account)["connection_id"] == legacy_id(account)
    assert f"Kept app {existing['id']}: it existed before provisioning." in output
    assert "DELETE" not in output


def test_teardown_dry_run_changes_nothing(account):
    provision()
    app = app_named(account)

    output = provision("--teardown", "--dry-run")

    assert f"> DELETE /call_control_applications/{app['id']}" in output
    assert app["id"] in account.applications
    assert number(account)["connection_id"] == app["id"]
    assert TelnyxProvisioning.objects.get().torn_down_at is None


def test_teardown_without_a_record_says_there_is_nothing_to_do(account):
    output = provision("--teardown")

    assert "Nothing to tear down" in output
    assert number(account)["connection_id"] == legacy_id(account)


def test_set_up_works_again_after_a_teardown(account):
    provision()
    provision("--teardown")

    provision()

    assert number(account)["connection_id"] == app_named(account)["id"]
    assert TelnyxProvisioning.objects.filter(torn_down_at__isnull=True).count() == 1


# Preflight -------------------------------------------------------------------------------


@pytest.fixture
def provisioned(account, health_server, settings) -> dict[str, Any]:
    """A set-up account whose .env has the printed ids; every check passes."""
    provision()
    app = app_named(account)
    settings.TELNYX_CALL_CONTROL_APP_ID = app["id"]
    settings.TELNYX_PHONE_NUMBER_ID = number(account)["id"]
    return app


def test_check_passes_on_a_provisioned_account(provisioned):
    output = provision("--check")

    assert "All checks passed." in output
    assert "FAIL" not in output
    for name in ("API key", "Call Control App", "Webhook URL", "Webhook API version"):
        assert f"ok    {name}" in output
    assert "skip  Destination" in output


@pytest.mark.django_db(transaction=True)
def test_check_fetches_healthz_from_phonebridge_itself(account, live_asgi, settings):
    provision()
    settings.TELNYX_CALL_CONTROL_APP_ID = app_named(account)["id"]

    output = provision("--check")

    assert f"ok    Public host          http://{live_asgi.host}/healthz answered 200" in output
    assert "All checks passed." in output


def _drift_webhook(account, settings):
    app_named(account)["webhook_event_url"] = "https://old.ngrok.app/telnyx/events"


def _webhooks_v1(account, settings):
    app_named(account)["webhook_api_version"] = "1"


def _inactive(account, settings):
    app_named(account)["active"] = False


def _no_profile(account, settings):
    app_named(account)["outbound"]["outbound_voice_profile_id"] = None


def _disabled_profile(account, settings):
    for profile in account.outbound_voice_profiles.values():
        profile["enabled"] = False


def _unrouted(account, settings):
    number(account)["connection_id"] = legacy_id(account)


def _unknown_app_id(account, settings):
    settings.TELNYX_CALL_CONTROL_APP_ID = "999"


def _no_public_key(account, settings):
    settings.TELNYX_PUBLIC_KEY = ""


@pytest.mark.parametrize(
    ("breakage", "line", "fix"),
    [
        (_drift_webhook, "FAIL  Webhook URL", "to point the app at http://127.0.0.1"),
        (_webhooks_v1, "FAIL  Webhook API version", "(it sets webhook_api_version 2)"),
        (_inactive, "FAIL  Call Control App", "to activate it"),
        (_no_profile, "FAIL  Outbound profile", "--outbound-voice-profile"),
        (_disabled_profile, "FAIL  Outbound profile", "Create or enable a profile"),
        (_unrouted, "FAIL  Phone number", "to route it to the app"),
        (_unknown_app_id, "FAIL  Call Control App", "Set TELNYX_CALL_CONTROL_APP_ID="),
        (_no_public_key, "FAIL  Public key", "Keys & Credentials > Public Key"),
    ],
)
def test_check_reports_each_failure_with_its_fix(
    provisioned, account, settings, breakage, line, fix
):
    breakage(account, settings)

    output, error = failing("--check")

    rows = output.splitlines()
    [failure] = [i for i, row in enumerate(rows) if row.startswith("FAIL")]
    assert rows[failure].startswith(line)
    assert "fix: " in rows[failure + 1]
    assert fix in rows[failure + 1]
    assert error == "1 of 9 checks failed; each fix is printed above."


def test_a_failed_check_exits_non_zero_from_the_command_line(provisioned, account, capsys):
    _inactive(account, None)

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "provision_telnyx", "--check"]).execute()

    assert exit_info.value.code == 1
    assert "CommandError: 1 of 9 checks failed" in capsys.readouterr().err


def test_check_reports_an_unverified_destination_only_when_asked(provisioned, account):
    assert "All checks passed." in provision("--check")

    output, _ = failing("--check", "--to", "+15557770000")

    assert "+15557770000 is not verified" in output
    assert (
        "fix: Verify it (Mission Control > Numbers > Verified Numbers) or use an unrestricted account."
        in output
    )


def test_check_accepts_a_verified_destination(provisioned, account):
    account.verify_number("+15557770000")

    output = provision("--check", "--to", "+15557770000")

    assert "ok    Destination          +15557770000 is a verified number" in output


def test_check_reports_a_rejected_api_key_and_skips_what_needs_it(provisioned, settings):
    settings.TELNYX_API_KEY = "KEYWRONG"

    output, error = failing("--check")

    assert "FAIL  API key" in output
    assert "10009" in output
    assert "skip  Call Control App     needs a valid API key" in output
    assert error == "1 of 9 checks failed; each fix is printed above."


def test_check_reports_a_host_that_does_not_reach_phonebridge(provisioned, health_server):
    # What an ngrok tunnel whose agent is offline answers: not our /healthz.
    health_server.routes.clear()

    output, error = failing("--check")

    assert (
        f"FAIL  Public host          http://{health_server.host}/healthz answered HTTP 404, not phonebridge"
        in output
    )
    assert "fix: Start phonebridge (`uv run manage.py runserver`) and `ngrok http 8000`" in output
    assert error.startswith("1 of 9 checks failed")


def test_check_reports_a_host_that_does_not_answer(provisioned, settings):
    settings.PUBLIC_HOST = f"127.0.0.1:{free_port()}"

    output, error = failing("--check")

    assert "/healthz did not answer (ConnectError)" in output
    assert "FAIL  Webhook URL" in output  # the app still points at the old host
    assert error.startswith("2 of 9 checks failed")


def test_check_makes_no_changes(provisioned, account):
    _drift_webhook(account, None)
    commands_before = CarrierCommand.objects.count()

    failing("--check")

    assert app_named(account)["webhook_event_url"] == "https://old.ngrok.app/telnyx/events"
    assert CarrierCommand.objects.count() == commands_before


# Errors ----------------------------------------------------------------------------------


def test_a_401_is_a_clean_message(account, settings):
    settings.TELNYX_API_KEY = "KEYWRONG"

    _, error = failing()

    assert error == (
        "Telnyx answered HTTP 401: Telnyx error 10009: Authentication failed. The API key "
        "provided is missing or invalid. Check TELNYX_API_KEY: copy a valid key from Mission "
        "Control > Keys & Credentials > API Keys."
    )


def test_a_422_is_a_clean_message(account):
    provision()
    # The connection to restore has gone since set-up: Telnyx refuses the routing.
    del account.applications[legacy_id(account)]

    _, error = failing("--teardown")

    assert error == (
        "Telnyx answered HTTP 422: Telnyx error 10015: Bad Request. Unknown connection_id."
    )


def test_a_429_is_retried_then_reported_cleanly(account, simulator, settings):
    settings.TELNYX_API_MAX_ATTEMPTS = 3
    simulator.carrier.inject("rate_limit", count=3, retry_after_s=0, path_contains="call_control")

    _, error = failing()

    assert error.startswith("Telnyx answered HTTP 429: Telnyx error 10011: Too many requests.")
    assert "wait a minute, then run the command again" in error
    assert [kind for kind, _ in simulator.carrier.faults.fired] == ["rate_limit"] * 3
    assert [a["application_name"] for a in account.applications.values()] == ["legacy IVR"]


def test_a_429_that_clears_within_the_attempts_is_not_an_error(account, simulator):
    simulator.carrier.inject("rate_limit", count=1, retry_after_s=0, path_contains="phone_numbers")

    provision()

    assert number(account)["connection_id"] == app_named(account)["id"]


def test_an_unreachable_api_is_a_clean_message(account, settings):
    settings.TELNYX_API_BASE_URL = f"http://127.0.0.1:{free_port()}/v2"
    settings.TELNYX_API_MAX_ATTEMPTS = 1

    _, error = failing()

    assert error.startswith("Telnyx did not answer (")
    assert "TELNYX_API_BASE_URL" in error


def test_a_missing_api_key_is_a_one_line_error(settings):
    settings.TELNYX_SIMULATOR = False
    settings.TELNYX_API_KEY = ""

    _, error = failing()

    assert error == (
        "TELNYX_API_KEY is not set: copy a key from Mission Control > Keys & Credentials > "
        "API Keys into .env."
    )


def test_it_refuses_to_provision_the_simulator_unless_allowed(settings):
    settings.TELNYX_SIMULATOR = True

    _, error = failing()

    assert "TELNYX_SIMULATOR is on" in error
    assert "--allow-simulator" in error


def test_it_provisions_the_simulator_when_allowed(account, settings):
    settings.TELNYX_SIMULATOR = True

    output = provision("--allow-simulator")

    assert f"Simulator mode: talking to {settings.TELNYX_API_BASE_URL}, not Telnyx." in output
    assert number(account)["connection_id"] == app_named(account)["id"]


def test_it_asks_for_migrations_before_talking_to_telnyx(account, monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: ["pending"])

    _, error = failing()

    assert error == "The database is not up to date: run `uv run manage.py migrate` first."
    assert [a["application_name"] for a in account.applications.values()] == ["legacy IVR"]


def test_it_refuses_a_phone_number_that_is_not_e164(account):
    _, error = failing("--phone-number", "555-0001")

    assert error == "--phone-number 555-0001 is not E.164 (+15551234567)."
