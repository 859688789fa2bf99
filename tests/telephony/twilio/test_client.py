"""Twilio's REST chokepoint: auth, form bodies, errors in Twilio's words, retries and their
back-off, the command log, and a dial that is never placed twice."""

from __future__ import annotations

import base64

import pytest

from calls.models import Call, CarrierCommand
from telephony.twilio.client import TwilioError, get_client
from tests.telephony.twilio.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("twilio_settings")]

CALLS = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


def dial_fields(**extra):
    return {
        "To": "+15551230000",
        "From": "+15550002222",
        "Twiml": "<Response><Connect><Stream url='wss://h/twilio/media/c/SECRET'/></Connect></Response>",
        "StatusCallback": "https://h/twilio/status?call=x&attempt=1",
        **extra,
    }


async def test_requests_use_basic_auth_with_the_account_sid_and_auth_token(fake_twilio):
    twilio = fake_twilio()
    await get_client().create_call(**dial_fields())
    [request] = twilio.requests
    user, password = base64.b64decode(request.headers["authorization"][6:]).decode().split(":")
    assert (user, password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.url.path == CALLS
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_an_api_key_replaces_the_auth_token_for_requests(fake_twilio):
    twilio = fake_twilio()
    from telephony.twilio import client as twilio_client

    twilio_client.install_client(twilio.client(api_key="SK" + "1" * 32, api_secret="key-secret"))
    await get_client().create_call(**dial_fields())
    user = base64.b64decode(twilio.requests[0].headers["authorization"][6:]).decode()
    assert user == "SK" + "1" * 32 + ":key-secret"


async def test_booleans_and_absent_fields_are_sent_as_twilio_reads_them(fake_twilio):
    twilio = fake_twilio()
    await get_client().create_call(**dial_fields(AsyncAmd=True, Timeout=None))
    [form] = twilio.forms("Calls.json")
    assert form["AsyncAmd"] == "true"
    assert "Timeout" not in form


async def test_a_refusal_is_a_permanent_error_in_twilios_words():
    from telephony.twilio import client as twilio_client
    from tests.telephony.twilio.fake_twilio import FakeTwilio

    twilio_client.install_client(FakeTwilio().client())
    with pytest.raises(TwilioError) as caught:
        await get_client().create_call(**dial_fields(To="5551230000"))
    error = caught.value
    assert (error.status_code, error.code, error.permanent) == (400, "21211", True)
    assert error.for_humans() == (
        "Twilio error 21211: Invalid 'To' Phone Number: 5551230000. "
        "https://www.twilio.com/docs/errors/21211"
    )


async def test_a_429_is_retried_after_the_time_twilio_asks_for(fake_twilio):
    twilio = fake_twilio()
    created = await get_client().create_call(**dial_fields())
    sid = created["sid"]
    twilio.fail(f"{sid}.json", 429, 20429, "Too Many Requests", headers={"Retry-After": "2"})
    await get_client().update_call(sid, Status="completed")
    assert twilio.sleeps == [2.0]
    assert twilio.calls[sid]["status"] == "completed"


async def test_an_unknown_call_is_a_404_with_twilios_code(fake_twilio):
    fake_twilio()
    with pytest.raises(TwilioError) as caught:
        await get_client().fetch_call("CA" + "b" * 32)
    assert (caught.value.status_code, caught.value.code) == (404, "20404")


async def test_a_5xx_update_is_retried_a_bounded_number_of_times(fake_twilio, settings):
    twilio = fake_twilio()
    created = await get_client().create_call(**dial_fields())
    for _ in range(4):
        twilio.fail(f"{created['sid']}.json", 503, 20500, "Service Unavailable")
    with pytest.raises(TwilioError) as caught:
        await get_client().update_call(created["sid"], Status="completed")
    assert caught.value.status_code == 503
    assert not caught.value.permanent
    assert len(twilio.forms(f"{created['sid']}.json")) == 4  # TWILIO_API_MAX_ATTEMPTS
    assert all(0 < s <= 8.0 for s in twilio.sleeps)


async def test_every_request_is_logged_as_a_twilio_command_with_the_token_redacted(fake_twilio):
    fake_twilio()
    call = await Call.objects.acreate(direction="outbound", carrier="twilio")
    await get_client().create_call(call=call, **dial_fields())
    command = await CarrierCommand.objects.aget(name="dial")
    assert (command.carrier, command.ok, command.status_code, command.attempts) == (
        "twilio",
        True,
        201,
        1,
    )
    assert command.call_id == call.pk
    assert "SECRET" not in command.request_body["Twiml"]
    assert "/twilio/media/c/***" in command.request_body["Twiml"]


async def test_a_failed_request_is_logged_with_twilios_code_and_link(fake_twilio):
    fake_twilio()
    with pytest.raises(TwilioError):
        await get_client().create_call(**dial_fields(To="bad"))
    command = await CarrierCommand.objects.aget(name="dial")
    assert (command.ok, command.error_code) == (False, "21211")
    assert command.error_title.startswith("Invalid 'To' Phone Number")
    assert command.error_detail == "https://www.twilio.com/docs/errors/21211"


async def test_a_call_that_is_over_is_already_ended_not_a_failure(fake_twilio):
    fake_twilio()
    created = await get_client().create_call(**dial_fields())
    await get_client().update_call(created["sid"], Status="completed")
    with pytest.raises(TwilioError) as caught:
        await get_client().update_call(created["sid"], Status="completed")
    assert caught.value.already_ended


# The retry-safe dial ----------------------------------------------------------------------


async def test_a_dial_whose_answer_was_lost_adopts_the_call_twilio_created(fake_twilio):
    twilio = fake_twilio()
    twilio.time_out("Calls.json", acted=True)  # Twilio created it; the answer never came
    created = await get_client().create_call(**dial_fields())
    assert len(twilio.calls) == 1  # never dialed twice
    assert created["sid"] in twilio.calls
    assert len(twilio.forms("Calls.json")) == 1
    [listing] = [r for r in twilio.requests if r.method == "GET"]
    assert listing.url.params["To"] == "+15551230000"
    assert listing.url.params["From"] == "+15550002222"
    assert "StartTime>" in listing.url.params


async def test_a_dial_that_got_a_5xx_after_twilio_acted_is_not_placed_twice(fake_twilio):
    twilio = fake_twilio()
    twilio.fail("Calls.json", 500, 20500, "Internal Server Error", acted=True)
    await get_client().create_call(**dial_fields())
    assert len(twilio.calls) == 1


async def test_a_dial_that_never_reached_twilio_is_sent_again(fake_twilio):
    twilio = fake_twilio()
    twilio.fail("Calls.json", 503, 20503, "Service Unavailable")  # refused, nothing created
    created = await get_client().create_call(**dial_fields())
    assert len(twilio.calls) == 1
    assert len(twilio.forms("Calls.json")) == 2
    assert created["sid"] in twilio.calls


async def test_a_call_another_of_our_calls_holds_is_not_adopted(fake_twilio):
    twilio = fake_twilio()
    earlier = await get_client().create_call(**dial_fields())  # same numbers, another Call
    await Call.objects.acreate(
        direction="outbound", carrier="twilio", call_control_id=earlier["sid"]
    )
    twilio.fail("Calls.json", 502, 20502, "Bad Gateway")  # nothing created this time
    created = await get_client().create_call(**dial_fields())
    assert created["sid"] != earlier["sid"]
    assert len(twilio.calls) == 2


async def test_a_dial_is_not_retried_when_twilio_cannot_say_whether_it_was_placed(fake_twilio):
    twilio = fake_twilio()
    twilio.time_out("Calls.json", acted=False)
    for _ in range(4):  # the lookup fails too, every attempt of it
        twilio.fail("Calls.json", 503, 20503, "Service Unavailable")
    with pytest.raises(TwilioError) as caught:
        await get_client().create_call(**dial_fields())
    assert "not dialed again" in str(caught.value)
    assert caught.value.permanent
    assert len(twilio.forms("Calls.json")) == 1


async def test_a_call_created_by_the_last_attempt_is_adopted_not_reported_failed(fake_twilio):
    twilio = fake_twilio()
    for _ in range(3):  # nothing created
        twilio.fail("Calls.json", 503, 20503, "Service Unavailable", method="POST")
    twilio.time_out("Calls.json", acted=True, method="POST")  # the last attempt creates it
    created = await get_client().create_call(**dial_fields())
    assert list(twilio.calls) == [created["sid"]]
    assert len(twilio.forms("Calls.json")) == 4  # TWILIO_API_MAX_ATTEMPTS, and no fifth
    assert len(twilio.forms("Calls.json", method="GET")) == 4  # one lookup after each


async def test_a_dial_given_up_on_says_twilio_did_not_answer(fake_twilio):
    twilio = fake_twilio()
    for _ in range(4):  # never created, never answered; the lookups find nothing
        twilio.time_out("Calls.json", method="POST")
    with pytest.raises(TwilioError) as caught:
        await get_client().create_call(**dial_fields())
    assert caught.value.status_code is None
    assert "no response from Twilio (ReadTimeout)" in str(caught.value)
    assert twilio.calls == {}
