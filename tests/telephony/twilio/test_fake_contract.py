"""tests/telephony/twilio/fake_twilio.py pinned to Twilio's own package, offline.

The fake answers our TwilioClient in the unit tests. Here the official SDK
(`twilio.rest.Client`) talks to the same fake through an HTTP client of the SDK's own kind,
so every shape the fake returns (a created call, a fetched one, a page of calls, a recording,
the numbers, Twilio's error JSON) is read by the code Twilio ships for api.twilio.com. A
field renamed or an error body the SDK cannot read fails here, not in production.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.http import HttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from tests.telephony.twilio.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, BASE_URL, FakeTwilio

CALLER = "+15557654321"
NUMBER = "+15550100000"


class FakeHttpClient(HttpClient):  # type: ignore[misc]
    """The SDK's HTTP client interface (twilio/http/__init__.py), sending what the SDK meant
    for api.twilio.com to the fake's handler as an httpx request, with the SDK's basic auth
    and form body, and handing its answer back as the SDK's Response."""

    def __init__(self, fake: FakeTwilio) -> None:
        super().__init__(logger=logging.getLogger(__name__), is_async=False)
        self.fake = fake

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        url = httpx.URL(uri.replace("https://api.twilio.com", BASE_URL), params=params or {})
        request = httpx.Request(
            method,
            url,
            headers={
                **(headers or {}),
                **({"Authorization": httpx.BasicAuth(*auth)._auth_header} if auth else {}),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            content=urlencode(data or {}, doseq=True).encode(),
        )
        answer = asyncio.run(self.fake.handler(request))
        return Response(answer.status_code, answer.text, dict(answer.headers))


@pytest.fixture
def fake() -> FakeTwilio:
    return FakeTwilio()


@pytest.fixture
def sdk(fake: FakeTwilio) -> Any:
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=FakeHttpClient(fake))


def test_the_sdk_creates_fetches_lists_and_hangs_up_a_call_on_the_fake(sdk, fake):
    created = sdk.calls.create(to=CALLER, from_=NUMBER, twiml="<Response><Pause/></Response>")
    assert created.sid.startswith("CA")
    assert len(created.sid) == 34
    assert (created.to, created._from, created.status) == (CALLER, NUMBER, "queued")
    assert created.account_sid == ACCOUNT_SID
    assert created.date_created is not None  # RFC 2822, as Twilio sends it: the SDK parsed it
    assert fake.forms("Calls.json")[0]["Twiml"] == "<Response><Pause/></Response>"

    fetched = sdk.calls(created.sid).fetch()
    assert (fetched.sid, fetched.status) == (created.sid, "queued")
    assert [c.sid for c in sdk.calls.list(to=CALLER)] == [created.sid]
    assert sdk.calls.list(to="+15550009999") == []

    hung_up = sdk.calls(created.sid).update(status="completed")
    assert hung_up.status == "completed"


def test_the_sdk_starts_and_stops_a_recording_on_the_fake(sdk):
    call = sdk.calls.create(to=CALLER, from_=NUMBER, twiml="<Response/>")
    recording = sdk.calls(call.sid).recordings.create()
    assert recording.sid.startswith("RE")
    assert recording.call_sid == call.sid
    stopped = sdk.calls(call.sid).recordings(recording.sid).update(status="stopped")
    assert stopped.status == "stopped"


def test_the_sdk_lists_the_fakes_incoming_numbers(sdk, fake):
    fake.numbers.append({"sid": "PN" + "3" * 32, "phone_number": NUMBER, "voice_url": ""})
    [number] = sdk.incoming_phone_numbers.list()
    assert (number.sid, number.phone_number) == ("PN" + "3" * 32, NUMBER)


@pytest.mark.parametrize(
    ("act", "status", "code"),
    [
        (lambda sdk: sdk.calls("CA" + "9" * 32).fetch(), 404, 20404),
        (lambda sdk: sdk.calls.create(to="5557654321", from_=NUMBER, twiml="<R/>"), 400, 21211),
    ],
    ids=["unknown call", "invalid To"],
)
def test_the_sdk_reads_the_fakes_errors_as_twilio_rest_exceptions(sdk, act, status, code):
    with pytest.raises(TwilioRestException) as raised:
        act(sdk)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert raised.value.msg


def test_a_call_that_is_over_refuses_new_twiml_as_twilio_does(sdk):
    call = sdk.calls.create(to=CALLER, from_=NUMBER, twiml="<Response/>")
    sdk.calls(call.sid).update(status="completed")
    with pytest.raises(TwilioRestException) as raised:
        sdk.calls(call.sid).update(twiml="<Response><Say>late</Say></Response>")
    assert (raised.value.status, raised.value.code) == (400, 21220)


def test_a_scripted_failure_reaches_the_sdk_as_twilios_error(sdk, fake):
    fake.fail("Calls.json", 429, 20429, "Too Many Requests", headers={"Retry-After": "1"})
    with pytest.raises(TwilioRestException) as raised:
        sdk.calls.create(to=CALLER, from_=NUMBER, twiml="<Response/>")
    assert (raised.value.status, raised.value.code) == (429, 20429)


def test_the_fake_authenticates_the_sdk_only_with_the_accounts_token(fake):
    call = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=FakeHttpClient(fake)).calls.create(
        to=CALLER, from_=NUMBER, twiml="<Response/>"
    )
    wrong = Client(ACCOUNT_SID, "not-the-token", http_client=FakeHttpClient(fake))
    with pytest.raises(TwilioRestException) as raised:
        wrong.calls(call.sid).fetch()
    assert (raised.value.status, raised.value.code) == (401, 20003)
