"""`manage.py provision_twilio` against the Twilio simulator's REST API, over real HTTP.

The simulator is served from a thread of its own (tests/telephony/provisioning_helpers.py);
the tests read and change its account directly between commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import ManagementUtility
from django.db.migrations.executor import MigrationExecutor

from calls.models import CarrierCommand
from telephony.models import TwilioProvisioning
from telephony.twilio.simulator.account import Account
from telephony.twilio.simulator.carrier import Carrier
from telephony.twilio.simulator.server import RunningSimulator, running_simulator
from tests.live import free_port
from tests.telephony import provisioning_helpers as helpers

pytestmark = pytest.mark.django_db

NUMBER = "+15550001111"
OTHER = "+15550002222"
HOST = "phonebridge.test"
VOICE = f"https://{HOST}/twilio/voice"
STATUS = f"https://{HOST}/twilio/status"
BEFORE = "https://legacy.example/ivr"


@pytest.fixture
def simulator(settings) -> Iterator[RunningSimulator]:
    with helpers.simulator_thread(running_simulator(Carrier()), "twilio-simulator") as sim:
        settings.TWILIO_SIMULATOR = False
        settings.TWILIO_ACCOUNT_SID = sim.account_sid
        settings.TWILIO_AUTH_TOKEN = sim.auth_token
        settings.TWILIO_API_KEY = ""
        settings.TWILIO_API_SECRET = ""
        settings.TWILIO_API_BASE_URL = sim.base_url
        settings.TWILIO_API_MAX_ATTEMPTS = 2
        settings.TWILIO_PHONE_NUMBER = NUMBER
        settings.PUBLIC_HOST = HOST
        yield sim


@pytest.fixture
def account(simulator: RunningSimulator) -> Account:
    """A user's account: the number answered by an older IVR (GET), a second number."""
    account = simulator.carrier.account
    account.add_number(NUMBER, VoiceUrl=BEFORE, VoiceMethod="GET")
    account.add_number(OTHER)
    return account


def number(account: Account, phone: str = NUMBER) -> dict[str, Any]:
    record = account.number_record(phone)
    assert record is not None
    return record


def voice_of(account: Account) -> tuple[str, str, str, str]:
    n = number(account)
    return (n["voice_url"], n["voice_method"], n["status_callback"], n["status_callback_method"])


def provision(*args: str) -> str:
    return helpers.run_command("provision_twilio", *args)


def failing(*args: str) -> tuple[str, str]:
    return helpers.failing_command("provision_twilio", *args)


def changes_sent() -> int:
    """Requests that change the account (the client logs reads too)."""
    return CarrierCommand.objects.filter(carrier="twilio", method="POST").count()


# Set-up ----------------------------------------------------------------------------------


def test_it_points_the_number_at_phonebridge_and_remembers_what_was_there(account):
    output = provision()

    assert voice_of(account) == (VOICE, "POST", STATUS, "POST")
    sid = number(account)["sid"]
    assert (
        f'> POST /IncomingPhoneNumbers/{sid}.json {{"VoiceUrl": "{VOICE}", "VoiceMethod": '
        f'"POST", "StatusCallback": "{STATUS}", "StatusCallbackMethod": "POST"}}'
    ) in output
    assert (
        f"Done: pointed {NUMBER} ({sid}) at phonebridge (before: voice URL {BEFORE} GET, "
        "status callback none)."
    ) in output
    record = TwilioProvisioning.objects.get()
    assert (record.number_sid, record.voice_url, record.status_callback) == (sid, VOICE, STATUS)
    assert record.configured_by_us is True
    assert (record.previous_voice_url, record.previous_voice_method) == (BEFORE, "GET")
    assert (record.previous_status_callback, record.previous_status_callback_method) == (
        "",
        "POST",
    )
    [sent] = CarrierCommand.objects.filter(carrier="twilio", method="POST")
    assert sent.ok
    assert sent.name == "update_incoming_number"


def test_it_runs_from_the_command_line_before_the_system_checks_pass(account, capsys):
    ManagementUtility(["manage.py", "provision_twilio"]).execute()

    assert "Done: pointed" in capsys.readouterr().out
    assert number(account)["voice_url"] == VOICE


def test_it_changes_nothing_when_run_twice(account):
    provision()
    before, sent = dict(number(account)), changes_sent()

    output = provision()

    assert "Already set up: nothing changed." in output
    assert "> " not in output  # no request printed, so none made
    assert number(account) == before
    assert changes_sent() == sent
    assert TwilioProvisioning.objects.count() == 1


def test_a_new_host_updates_the_urls_and_keeps_what_was_there_first(account, settings):
    provision()
    settings.PUBLIC_HOST = "new-tunnel.ngrok.app"

    output = provision()

    assert number(account)["voice_url"] == "https://new-tunnel.ngrok.app/twilio/voice"
    assert (
        f"An earlier set-up pointed {NUMBER} at {VOICE}; teardown will still restore what it "
        "had before that."
    ) in output
    assert "> POST /IncomingPhoneNumbers/" in output
    record = TwilioProvisioning.objects.get()
    assert record.voice_url == "https://new-tunnel.ngrok.app/twilio/voice"
    assert (record.previous_voice_url, record.previous_voice_method) == (BEFORE, "GET")


def test_it_fixes_only_the_method_when_the_url_is_already_ours(account):
    number(account).update(voice_url=VOICE, voice_method="GET", status_callback=STATUS)

    output = provision()

    assert f'"VoiceUrl": "{VOICE}", "VoiceMethod": "POST"}}' in output
    assert "StatusCallback" not in output.split("> ", 1)[1].splitlines()[0]
    assert voice_of(account) == (VOICE, "POST", STATUS, "POST")


def test_it_refuses_a_number_that_is_not_on_the_account_and_lists_those_that_are(account):
    _, error = failing("--phone-number", "+15559998888")

    assert error == (
        f"+15559998888 is not a number on this Twilio account (its numbers: {NUMBER}, {OTHER}): "
        "buy or port it (Console > Phone Numbers > Manage > Active numbers), or set "
        "TWILIO_PHONE_NUMBER to one of yours."
    )
    assert not TwilioProvisioning.objects.exists()


def test_it_refuses_a_number_a_twiml_app_answers_instead_of_detaching_the_app(account):
    app = "AP" + "1" * 32
    number(account)["voice_application_sid"] = app

    _, error = failing()

    assert f"{NUMBER} is routed to TwiML app {app}, so Twilio would ignore its voice URL" in error
    assert "configure it with a webhook instead" in error
    assert voice_of(account)[0] == BEFORE
    assert changes_sent() == 0


def test_dry_run_prints_the_request_and_changes_nothing(account):
    output = provision("--dry-run")

    assert "Dry run: these requests would be sent (nothing was changed):" in output
    assert f'> POST /IncomingPhoneNumbers/{number(account)["sid"]}.json {{"VoiceUrl": ' in output
    assert voice_of(account) == (BEFORE, "GET", "", "POST")
    assert not TwilioProvisioning.objects.exists()
    assert changes_sent() == 0


def test_dry_run_on_a_set_up_number_says_nothing_would_change(account):
    provision()

    assert "Dry run: nothing would change." in provision("--dry-run")


# Public host -----------------------------------------------------------------------------


@pytest.fixture
def no_public_host(settings) -> Iterator[None]:
    with helpers.unset_public_host(settings):
        yield


def test_it_finds_the_host_through_ngroks_local_api(account, no_public_host, monkeypatch):
    with helpers.ngrok_agent(monkeypatch, "https://abc123.ngrok.app"):
        output = provision()

    assert "public host abc123.ngrok.app (from ngrok's local API)" in output
    assert number(account)["voice_url"] == "https://abc123.ngrok.app/twilio/voice"


def test_it_asks_for_ngrok_when_there_is_no_public_host(account, no_public_host, monkeypatch):
    helpers.no_ngrok_agent(monkeypatch)

    _, error = failing()

    assert "start `ngrok http 8000`" in error
    assert voice_of(account)[0] == BEFORE


# Teardown --------------------------------------------------------------------------------


def test_teardown_puts_back_exactly_what_was_there(account):
    provision()

    output = provision("--teardown")

    assert voice_of(account) == (BEFORE, "GET", "", "POST")
    sid = number(account)["sid"]
    assert (
        f'> POST /IncomingPhoneNumbers/{sid}.json {{"VoiceUrl": "{BEFORE}", "VoiceMethod": '
        '"GET", "StatusCallback": "", "StatusCallbackMethod": "POST"}'
    ) in output
    assert "Torn down." in output
    assert TwilioProvisioning.objects.get().torn_down_at is not None


def test_teardown_leaves_a_url_changed_since_set_up(account):
    provision()
    number(account)["voice_url"] = "https://someone-else.example/answer"

    output = provision("--teardown")

    assert number(account)["voice_url"] == "https://someone-else.example/answer"
    assert number(account)["status_callback"] == ""  # still ours, so put back
    assert (
        f"Left {NUMBER}'s voice URL alone: it is now https://someone-else.example/answer, not ours."
        in output
    )


def test_teardown_dry_run_changes_nothing(account):
    provision()

    output = provision("--teardown", "--dry-run")

    assert f'"VoiceUrl": "{BEFORE}"' in output
    assert voice_of(account) == (VOICE, "POST", STATUS, "POST")
    assert TwilioProvisioning.objects.get().torn_down_at is None


def test_teardown_without_a_record_refuses_and_changes_nothing(account):
    _, error = failing("--teardown")

    assert error == (
        f"Nothing to tear down: provision_twilio has no record of setting up {NUMBER}. "
        "Nothing was changed."
    )
    assert voice_of(account)[0] == BEFORE


def test_teardown_of_another_number_says_which_one_was_set_up(account):
    provision()

    _, error = failing("--teardown", "--phone-number", OTHER)

    assert f"(it has set up {NUMBER}: pass --phone-number)" in error


def test_set_up_works_again_after_a_teardown(account):
    provision()
    provision("--teardown")

    provision()

    assert number(account)["voice_url"] == VOICE
    assert TwilioProvisioning.objects.filter(torn_down_at__isnull=True).count() == 1


# Preflight -------------------------------------------------------------------------------


@pytest.fixture
def health_server(settings) -> Iterator[helpers.TinyServer]:
    with helpers.healthy_public_host(settings) as server:
        yield server


@pytest.fixture
def provisioned(account, health_server) -> Account:
    provision()
    return account


def test_check_passes_on_a_provisioned_number(provisioned, health_server):
    output = provision("--check")

    assert f"Checking the Twilio set-up of {NUMBER}:" in output
    for name in ("Credentials", "Phone number", "Voice URL", "Status callback", "Public host"):
        assert f"ok    {name}" in output
    assert f"http://{health_server.host}/twilio/voice (POST)" in output
    assert "All checks passed." in output


@pytest.mark.django_db(transaction=True)
def test_check_fetches_healthz_from_phonebridge_itself(account, live_asgi):
    provision()

    output = provision("--check")

    assert f"ok    Public host      http://{live_asgi.host}/healthz answered 200" in output
    assert "All checks passed." in output


def _voice_elsewhere(account, settings):
    number(account)["voice_url"] = BEFORE


def _status_elsewhere(account, settings):
    number(account)["status_callback"] = "https://old-tunnel.ngrok.app/twilio/status"


def _not_owned(account, settings):
    settings.TWILIO_PHONE_NUMBER = "+15559998888"


def _trunked(account, settings):
    number(account)["trunk_sid"] = "TK" + "2" * 32


def _no_auth_token_with_api_key(account, settings):
    key, secret = account.add_api_key()
    settings.TWILIO_API_KEY, settings.TWILIO_API_SECRET = key, secret
    settings.TWILIO_AUTH_TOKEN = ""


@pytest.mark.parametrize(
    ("breakage", "line", "fix"),
    [
        (_voice_elsewhere, f"FAIL  Voice URL        {BEFORE} (POST), expected", "to point it at"),
        (_status_elsewhere, "FAIL  Status callback  https://old-tunnel", "to point it at"),
        (
            _not_owned,
            f"FAIL  Phone number     +15559998888 is not a number on this Twilio account (its numbers: {NUMBER}, {OTHER})",
            "Set TWILIO_PHONE_NUMBER to one of them",
        ),
        (
            _trunked,
            "FAIL  Phone number     +15550001111 is routed to SIP trunk TK",
            "with a webhook",
        ),
        (_no_auth_token_with_api_key, "FAIL  Webhook signing", "TWILIO_AUTH_TOKEN"),
    ],
)
def test_check_reports_each_failure_on_one_line_with_its_fix(
    provisioned, settings, breakage, line, fix
):
    breakage(provisioned, settings)

    output, error = failing("--check")

    rows = output.splitlines()
    [failure] = [i for i, row in enumerate(rows) if row.startswith("FAIL")]
    assert rows[failure].startswith(line)
    assert rows[failure + 1].lstrip().startswith("fix: ")
    assert (
        fix in rows[failure + 1] or fix.replace("run manage.py", "manage.py") in rows[failure + 1]
    )
    assert error == "1 of 6 checks failed; each fix is printed above."


def test_check_says_to_run_provision_twilio_when_the_number_is_not_set_up(account, health_server):
    output, error = failing("--check")

    assert "FAIL  Voice URL" in output
    assert (
        f"fix: Run `uv run manage.py provision_twilio` to point it at "
        f"http://{health_server.host}/twilio/voice (POST)."
    ) in output
    assert error == "2 of 6 checks failed; each fix is printed above."


def test_check_reports_a_wrong_auth_token_and_skips_what_needs_it(provisioned, settings):
    settings.TWILIO_AUTH_TOKEN = "0" * 32

    output, error = failing("--check")

    assert "FAIL  Credentials      Twilio refused them: Twilio error 20003: Authenticate." in output
    assert (
        "fix: Check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: copy both from Console > Account Info."
        in output
    )
    for name in ("Phone number", "Voice URL", "Status callback", "Webhook signing"):
        assert f"skip  {name:<16} needs valid credentials" in output
    assert error == "1 of 6 checks failed; each fix is printed above."


def test_check_reports_a_wrong_api_key_by_its_variables(provisioned, settings):
    settings.TWILIO_API_KEY, settings.TWILIO_API_SECRET = "SK" + "3" * 32, "wrong"

    output, _ = failing("--check")

    assert "fix: Check TWILIO_API_KEY and TWILIO_API_SECRET" in output


def test_check_accepts_an_api_key_and_says_the_token_cannot_be_verified(provisioned, settings):
    key, secret = provisioned.add_api_key()
    settings.TWILIO_API_KEY, settings.TWILIO_API_SECRET = key, secret

    output = provision("--check")

    assert "ok    Credentials      API key accepted by Twilio" in output
    assert "ok    Webhook signing  TWILIO_AUTH_TOKEN is set (an API key cannot verify it)" in output


def test_check_reports_a_host_that_does_not_reach_phonebridge(provisioned, health_server):
    # What an ngrok tunnel whose agent is offline answers: not our /healthz.
    health_server.routes.clear()

    output, error = failing("--check")

    assert (
        f"FAIL  Public host      http://{health_server.host}/healthz answered HTTP 404, not phonebridge"
        in output
    )
    assert "fix: Start phonebridge (`uv run manage.py runserver`) and `ngrok http 8000`" in output
    assert error.startswith("1 of 6 checks failed")


def test_check_reports_a_host_that_does_not_answer(provisioned, settings):
    settings.PUBLIC_HOST = f"127.0.0.1:{free_port()}"

    output, error = failing("--check")

    assert "/healthz did not answer (ConnectError)" in output
    assert "FAIL  Voice URL" in output  # the number still points at the old host
    assert "FAIL  Status callback" in output
    assert error == "3 of 6 checks failed; each fix is printed above."


def test_a_failed_check_exits_non_zero_from_the_command_line(provisioned, capsys):
    _voice_elsewhere(provisioned, None)

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "provision_twilio", "--check"]).execute()

    assert exit_info.value.code == 1
    assert "CommandError: 1 of 6 checks failed" in capsys.readouterr().err


def test_check_makes_no_changes(provisioned):
    _voice_elsewhere(provisioned, None)
    sent = changes_sent()

    failing("--check")

    assert number(provisioned)["voice_url"] == BEFORE
    assert changes_sent() == sent


# Errors ----------------------------------------------------------------------------------


def test_a_wrong_auth_token_is_a_clean_message(account, settings):
    settings.TWILIO_AUTH_TOKEN = "0" * 32

    _, error = failing()

    assert error == (
        "Twilio answered HTTP 401: Twilio error 20003: Authenticate. "
        "https://www.twilio.com/docs/errors/20003. Check TWILIO_ACCOUNT_SID and "
        "TWILIO_AUTH_TOKEN: copy both from Console > Account Info."
    )


def test_set_up_works_with_an_api_key(account, settings):
    key, secret = account.add_api_key()
    settings.TWILIO_API_KEY, settings.TWILIO_API_SECRET = key, secret

    provision()

    assert number(account)["voice_url"] == VOICE


def test_a_429_is_retried_then_reported_cleanly(account, simulator, settings):
    settings.TWILIO_API_MAX_ATTEMPTS = 3
    simulator.carrier.inject("rate_limit", count=3, retry_after_s=0, method="POST")

    _, error = failing()

    assert error.startswith("Twilio answered HTTP 429: Twilio error 20429: Too Many Requests.")
    assert "wait a minute, then run the command again" in error
    assert [kind for kind, _ in simulator.carrier.faults.fired] == ["rate_limit"] * 3
    assert voice_of(account)[0] == BEFORE


def test_a_429_that_clears_within_the_attempts_is_not_an_error(account, simulator):
    simulator.carrier.inject("rate_limit", count=1, retry_after_s=0, method="POST")

    provision()

    assert number(account)["voice_url"] == VOICE


def test_a_5xx_that_persists_is_a_clean_message(account, simulator):
    simulator.carrier.inject("unavailable", count=2, path_contains="IncomingPhoneNumbers")

    _, error = failing()

    assert error == (
        "Twilio answered HTTP 503: Twilio error 20503: Service Unavailable. "
        "https://www.twilio.com/docs/errors/20503. Twilio is having trouble: try again in a "
        "few minutes."
    )


def test_an_unreachable_api_is_a_clean_message(account, settings):
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{free_port()}"
    settings.TWILIO_API_MAX_ATTEMPTS = 1

    _, error = failing()

    assert error.startswith("Twilio did not answer (")
    assert "TWILIO_API_BASE_URL" in error


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        (
            "TWILIO_ACCOUNT_SID",
            "TWILIO_ACCOUNT_SID is not set: copy it from Console > Account Info into .env.",
        ),
        (
            "TWILIO_AUTH_TOKEN",
            "TWILIO_AUTH_TOKEN is not set: copy it from Console > Account Info into .env (or set TWILIO_API_KEY and TWILIO_API_SECRET).",
        ),
    ],
)
def test_missing_credentials_are_a_one_line_error(settings, unset, message):
    settings.TWILIO_SIMULATOR = False
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "4" * 32, "token"
    settings.TWILIO_API_KEY = ""
    setattr(settings, unset, "")

    _, error = failing()

    assert error == message


def test_an_api_key_without_its_secret_is_a_one_line_error(settings):
    settings.TWILIO_SIMULATOR = False
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_API_KEY = "AC" + "4" * 32, "SK" + "5" * 32
    settings.TWILIO_API_SECRET = ""

    _, error = failing()

    assert error.startswith("TWILIO_API_KEY is set but TWILIO_API_SECRET is not")


def test_it_refuses_to_provision_the_simulator_unless_allowed(settings):
    settings.TWILIO_SIMULATOR = True

    _, error = failing()

    assert "TWILIO_SIMULATOR is on" in error
    assert "--allow-simulator" in error


def test_it_provisions_the_simulator_when_allowed(account, settings):
    settings.TWILIO_SIMULATOR = True

    output = provision("--allow-simulator")

    assert f"Simulator mode: talking to {settings.TWILIO_API_BASE_URL}, not Twilio." in output
    assert number(account)["voice_url"] == VOICE


def test_it_asks_for_migrations_before_talking_to_twilio(account, monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: ["pending"])

    _, error = failing()

    assert error == "The database is not up to date: run `uv run manage.py migrate` first."
    assert voice_of(account)[0] == BEFORE


def test_it_refuses_a_phone_number_that_is_not_e164(account):
    _, error = failing("--phone-number", "555-0001")

    assert error == "--phone-number 555-0001 is not E.164 (+15551234567)."
