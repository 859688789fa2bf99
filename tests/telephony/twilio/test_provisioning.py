"""The plain parts of telephony/twilio/provisioning.py: what set-up sends, what teardown puts
back, how Twilio's refusals read. The command runs them against the simulator in
tests/telephony/management/test_provision_twilio.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from telephony import reachability
from telephony.twilio import provisioning
from telephony.twilio.client import TwilioError
from telephony.twilio.models import TwilioProvisioning
from telephony.twilio.provisioning import (
    Preflight,
    SetupPlan,
    Target,
    TeardownPlan,
)
from tests.live import free_port
from tests.telephony.provisioning_helpers import TinyServer

NUMBER = "+15550001111"
OURS = Target(NUMBER, "https://abc.ngrok.app/twilio/voice", "https://abc.ngrok.app/twilio/status")


def instance(**fields: Any) -> dict[str, Any]:
    """An IncomingPhoneNumber as Twilio's JSON writes it (snake_case; null where unset).
    Reference: https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource"""
    return {
        "sid": "PN" + "0" * 32,
        "phone_number": NUMBER,
        "voice_url": "https://old.example/voice",
        "voice_method": "POST",
        "status_callback": "",
        "status_callback_method": "POST",
        "voice_application_sid": None,
        "trunk_sid": None,
        **fields,
    }


def record(**fields: Any) -> TwilioProvisioning:
    values: dict[str, Any] = {
        "phone_number": NUMBER,
        "number_sid": "PN" + "0" * 32,
        "voice_url": OURS.voice_url,
        "status_callback": OURS.status_callback,
        "configured_by_us": True,
        "previous_voice_url": "https://old.example/voice",
        "previous_voice_method": "GET",
        "previous_status_callback": "",
        "previous_status_callback_method": "POST",
    }
    return TwilioProvisioning(**(values | fields))


# Set-up ----------------------------------------------------------------------------------


def test_set_up_sends_each_url_with_its_method_even_when_only_the_method_is_wrong():
    number = instance(
        voice_url=OURS.voice_url,
        voice_method="GET",
        status_callback=OURS.status_callback,
    )
    changes = provisioning._pairs_of(
        {k: v for k, v in OURS.fields.items() if provisioning._current(number, k) != v},
        OURS.fields,
    )

    assert changes == {"VoiceUrl": OURS.voice_url, "VoiceMethod": "POST"}


def test_the_request_set_up_prints_is_the_form_it_sends():
    plan = SetupPlan(OURS, instance(), dict(OURS.fields), record=None)

    [call] = plan.calls()

    assert str(call) == (f"POST /IncomingPhoneNumbers/PN{'0' * 32}.json " + json.dumps(OURS.fields))


def test_a_number_already_right_needs_no_request():
    assert SetupPlan(OURS, instance(), {}, record=None).calls() == []


def test_a_method_in_lower_case_counts_as_the_same_method():
    # Twilio writes methods upper case; one typed by hand elsewhere must not cause a change.
    assert provisioning._current(instance(voice_method="post"), "VoiceMethod") == "POST"


# Teardown --------------------------------------------------------------------------------


def test_teardown_puts_back_both_urls_and_methods_when_both_are_still_ours():
    number = instance(voice_url=OURS.voice_url, status_callback=OURS.status_callback)

    plan = TeardownPlan(record(), number)

    assert plan.body == {
        "VoiceUrl": "https://old.example/voice",
        "VoiceMethod": "GET",
        "StatusCallback": "",  # it had none: an empty value clears it again
        "StatusCallbackMethod": "POST",
    }


def test_teardown_leaves_a_url_someone_changed_since_set_up():
    number = instance(
        voice_url="https://someone-else.example/", status_callback=OURS.status_callback
    )

    plan = TeardownPlan(record(), number)

    assert plan.body == {"StatusCallback": "", "StatusCallbackMethod": "POST"}
    assert provisioning._teardown_notes(plan) == [
        f"Left {NUMBER}'s voice URL alone: it is now https://someone-else.example/, not ours."
    ]


def test_teardown_changes_nothing_on_a_number_that_pointed_at_us_before_set_up():
    number = instance(voice_url=OURS.voice_url, status_callback=OURS.status_callback)

    plan = TeardownPlan(record(configured_by_us=False), number)

    assert plan.calls() == []
    assert "already pointed at phonebridge before set-up" in provisioning._teardown_notes(plan)[0]


def test_teardown_of_a_number_no_longer_on_the_account_sends_nothing():
    plan = TeardownPlan(record(), None)

    assert plan.calls() == []
    assert provisioning._teardown_notes(plan) == [
        f"{NUMBER} is no longer on this Twilio account: nothing to restore."
    ]


# Errors and checks -----------------------------------------------------------------------


def twilio_error(status: int, code: str, message: str) -> TwilioError:
    return TwilioError(
        f"list_incoming_numbers: HTTP {status}",
        status_code=status,
        code=code,
        title=message,
        detail=f"https://www.twilio.com/docs/errors/{code}",
        permanent=status not in (429, 500, 503),
    )


def test_a_refused_token_names_the_variables_to_fix():
    error = twilio_error(401, "20003", "Authenticate")

    assert provisioning.describe_error(error) == (
        "Twilio answered HTTP 401: Twilio error 20003: Authenticate. "
        "https://www.twilio.com/docs/errors/20003. Check TWILIO_ACCOUNT_SID and "
        "TWILIO_AUTH_TOKEN: copy both from Console > Account Info."
    )


def test_a_refused_api_key_names_the_key_variables():
    error = twilio_error(401, "20003", "Authenticate")

    message = provisioning.describe_error(error, api_key=True)

    assert "Check TWILIO_API_KEY and TWILIO_API_SECRET" in message


def test_an_unanswered_request_says_where_it_went():
    error = TwilioError("list_incoming_numbers: no response from Twilio (ConnectError)")

    assert provisioning.describe_error(error) == (
        "Twilio did not answer (list_incoming_numbers: no response from Twilio "
        "(ConnectError)). Check the network and TWILIO_API_BASE_URL."
    )


def preflight(**fields: Any) -> Preflight:
    values: dict[str, Any] = {
        "phone_number": NUMBER,
        "auth_token": "t",
        "api_key": False,
        "host": "abc.ngrok.app",
    }
    return Preflight(**(values | fields))


def test_a_url_with_the_right_address_but_get_fails_the_check():
    number = instance(voice_url=OURS.voice_url, voice_method="GET")

    check = provisioning._url_check(
        "Voice URL", number, "VoiceUrl", preflight(), provisioning.voice_url
    )

    assert check.status == "fail"
    assert check.detail == f"{OURS.voice_url} (GET), expected {OURS.voice_url} (POST)"
    assert (
        check.fix
        == f"Run `uv run manage.py provision_twilio` to point it at {OURS.voice_url} (POST)."
    )


def test_without_a_public_host_the_url_check_gives_the_host_fix():
    check = provisioning._url_check(
        "Voice URL",
        instance(),
        "VoiceUrl",
        preflight(host=None, host_error="start ngrok"),
        provisioning.voice_url,
    )

    assert (check.status, check.fix) == ("fail", "start ngrok")


def test_a_missing_auth_token_fails_the_signing_check_even_with_an_api_key():
    check = provisioning._signing_check(preflight(auth_token="", api_key=True), False)

    assert check.status == "fail"
    assert "every webhook gets 403" in check.detail
    assert "even when the REST API is used with an API key" in check.fix


# Reachability ----------------------------------------------------------------------------


@pytest.fixture
def healthz() -> Iterator[TinyServer]:
    """A stdlib server standing in for the public host; each test sets its /healthz answer."""
    server = TinyServer({})
    yield server
    server.close()


@pytest.mark.parametrize(
    ("status", "outcome", "words"),
    [
        (200, "ok", "answered 200"),
        (400, "fail", "host not allowed?"),
        (404, "fail", "answered HTTP 404, not phonebridge"),
        (503, "fail", "answered 503"),
    ],
)
def test_the_public_host_probe_explains_each_answer(healthz, status, outcome, words):
    healthz.routes["/healthz"] = (status, {})

    result = async_to_sync(reachability.probe)(healthz.host)

    assert result.status == outcome
    assert words in result.detail
    assert bool(result.fix) == (outcome == "fail")


def test_the_public_host_probe_reports_a_host_that_does_not_answer():
    result = async_to_sync(reachability.probe)(f"127.0.0.1:{free_port()}")

    assert result.status == "fail"
    assert "did not answer (ConnectError)" in result.detail
    assert result.fix == reachability.TUNNEL_FIX
