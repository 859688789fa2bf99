"""System checks for the Twilio settings: each misconfiguration once, with its fix."""

from __future__ import annotations

import pytest

from telephony.twilio.checks import check_twilio

pytestmark = pytest.mark.usefixtures("twilio_settings")


def ids(messages) -> set[str]:
    return {m.id for m in messages}


def test_a_complete_twilio_configuration_passes():
    assert check_twilio() == []


def test_twilio_unused_says_nothing(settings):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER"):
        setattr(settings, name, "")
    assert check_twilio() == []


def test_twilio_as_the_carrier_without_credentials_says_what_to_set(settings):
    settings.PHONEBRIDGE_CARRIER = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    messages = check_twilio()
    assert ids(messages) == {"telephony.E102", "telephony.E104"}
    assert all(m.hint for m in messages)


def test_an_account_sid_of_the_wrong_form_is_reported(settings):
    settings.TWILIO_ACCOUNT_SID = "SK" + "0" * 32
    [message] = check_twilio()
    assert message.id == "telephony.E103"
    assert "32 hexadecimal digits" in message.hint


def test_an_api_key_needs_its_form_and_its_secret(settings):
    settings.TWILIO_API_KEY = "AC" + "1" * 32
    assert ids(check_twilio()) == {"telephony.E105"}
    settings.TWILIO_API_KEY = "SK" + "1" * 32
    settings.TWILIO_API_SECRET = ""
    [message] = check_twilio()
    assert message.id == "telephony.E106"
    assert "TWILIO_API_SECRET" in message.msg
    settings.TWILIO_API_SECRET = "secret"
    assert check_twilio() == []


def test_numbers_must_be_e164_and_the_number_among_the_owned_ones(settings):
    settings.TWILIO_PHONE_NUMBER = "555-0100"
    assert "telephony.E107" in ids(check_twilio())
    settings.TWILIO_PHONE_NUMBER = "+15550002222"
    settings.TWILIO_FROM_NUMBERS = ["+15550003333"]
    [message] = check_twilio()
    assert message.id == "telephony.W102"


def test_without_a_phone_number_dialing_is_warned_about(settings):
    settings.TWILIO_PHONE_NUMBER = ""
    assert ids(check_twilio()) == {"telephony.W101"}


def test_an_unknown_carrier_is_an_error(settings):
    settings.PHONEBRIDGE_CARRIER = "vonage"
    assert "telephony.E101" in ids(check_twilio())
