"""Which carrier a dial goes to: the one that owns the From number, else PHONEBRIDGE_CARRIER."""

from __future__ import annotations

import pytest

from calls.models import Call
from telephony import dialing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("twilio_settings")]


def test_a_twilio_number_dials_with_twilio_and_a_telnyx_number_with_telnyx(settings):
    settings.TWILIO_FROM_NUMBERS = ["+15550003333"]
    assert dialing.carrier_for_number("+15550002222") == "twilio"
    assert dialing.carrier_for_number("+15550003333") == "twilio"
    assert dialing.carrier_for_number(settings.TELNYX_PHONE_NUMBER) == "telnyx"


def test_a_number_neither_carrier_owns_goes_to_the_default_carrier(settings):
    assert dialing.carrier_for_number("+15559990000") == "telnyx"
    settings.PHONEBRIDGE_CARRIER = "twilio"
    assert dialing.carrier_for_number("+15559990000") == "twilio"


def test_the_default_from_number_is_the_default_carriers(settings):
    assert dialing.default_from_number() == settings.TELNYX_PHONE_NUMBER
    settings.PHONEBRIDGE_CARRIER = "twilio"
    assert dialing.default_from_number() == "+15550002222"


async def test_each_call_remembers_its_carrier(fake_twilio, fake_telnyx, settings):
    fake_twilio()
    fake_telnyx()
    twilio_call = await dialing.place_call(to="+15551230000", from_="+15550002222")
    telnyx_call = await dialing.place_call(to="+15551230000")
    assert (twilio_call.carrier, telnyx_call.carrier) == ("twilio", "telnyx")
    stored = {c.carrier async for c in Call.objects.all()}
    assert stored == {"twilio", "telnyx"}
