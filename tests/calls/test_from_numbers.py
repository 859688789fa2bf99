"""The Dial page's From numbers per carrier (calls/from_numbers.py): configured, the
simulator's, or fetched from the Twilio account through the real TwilioClient, answered by
FakeTwilio (tests/telephony/twilio/fake_twilio.py, which copies Twilio's REST answers)."""

from __future__ import annotations

import pytest

from calls import from_numbers
from calls.models import CarrierCommand
from tests.telephony.twilio.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, BASE_URL, FakeTwilio

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.TELNYX_FROM_NUMBERS = []
    settings.TWILIO_SIMULATOR = False
    settings.TWILIO_PHONE_NUMBER = ""
    settings.TWILIO_FROM_NUMBERS = []
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    from_numbers.forget_from_numbers()
    yield
    from_numbers.forget_from_numbers()


@pytest.fixture
def twilio_account(settings, monkeypatch) -> FakeTwilio:
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    settings.TWILIO_API_BASE_URL = BASE_URL
    fake = FakeTwilio()
    monkeypatch.setattr("telephony.twilio.client.get_client", fake.client)
    return fake


def by_carrier() -> dict[str, from_numbers.CarrierNumbers]:
    return {group.carrier: group for group in from_numbers.from_numbers()}


def test_without_twilio_only_telnyxs_numbers_are_offered(settings):
    settings.TELNYX_FROM_NUMBERS = ["+15550002222"]
    assert list(by_carrier()) == ["telnyx"]
    assert by_carrier()["telnyx"].numbers == ["+15550001111", "+15550002222"]


def test_twilios_configured_numbers_come_first_when_twilio_is_the_default(settings):
    settings.TELNYX_FROM_NUMBERS = ["+15550001111"]
    settings.TWILIO_PHONE_NUMBER = "+15550003333"
    settings.TWILIO_FROM_NUMBERS = ["+15550004444", "+15550003333"]
    settings.PHONEBRIDGE_CARRIER = "twilio"
    groups = from_numbers.from_numbers()
    assert [g.carrier for g in groups] == ["twilio", "telnyx"]
    assert groups[0].numbers == ["+15550003333", "+15550004444"]
    assert groups[0].source == "TWILIO_FROM_NUMBERS"


def test_the_twilio_accounts_voice_numbers_are_fetched_once_and_kept(settings, twilio_account):
    settings.TELNYX_FROM_NUMBERS = ["+15550001111"]
    settings.TWILIO_PHONE_NUMBER = "+15550003333"
    twilio_account.numbers = [
        {"sid": "PN1", "phone_number": "+15550003333", "capabilities": {"voice": True}},
        {"sid": "PN2", "phone_number": "+15550005555", "capabilities": {"voice": True}},
        {"sid": "PN3", "phone_number": "+15550006666", "capabilities": {"voice": False}},
    ]
    twilio = by_carrier()["twilio"]
    assert twilio.numbers == ["+15550003333", "+15550005555"]
    assert twilio.source == "your Twilio account"
    by_carrier()
    assert len(twilio_account.requests) == 1  # cached for the next page loads
    assert CarrierCommand.objects.get().name == "list_incoming_numbers"


def test_a_twilio_refusal_falls_back_to_the_configured_number_and_says_why(
    settings, twilio_account
):
    settings.TWILIO_PHONE_NUMBER = "+15550003333"
    twilio_account.fail("IncomingPhoneNumbers.json", 401, 20003, "Authenticate")
    twilio = by_carrier()["twilio"]
    assert twilio.numbers == ["+15550003333"]
    assert twilio.source.startswith("TWILIO_PHONE_NUMBER (Twilio: Twilio error 20003: Authenticate")
