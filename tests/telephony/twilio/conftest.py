from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from telephony.twilio import client as twilio_client
from tests.telephony.twilio.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, BASE_URL, FakeTwilio


@pytest.fixture
def twilio_settings(settings):
    """A Twilio account for the tests (use with pytest.mark.usefixtures)."""
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_KEY = ""
    settings.TWILIO_API_SECRET = ""
    settings.TWILIO_PHONE_NUMBER = "+15550002222"
    settings.TWILIO_API_BASE_URL = BASE_URL
    settings.BRIDGE = "echo"
    twilio_client.reset_clients()
    yield
    twilio_client.reset_clients()


@pytest.fixture
def fake_twilio() -> Callable[[], FakeTwilio]:
    """Install a FakeTwilio as the current event loop's Twilio client (call inside the loop)."""
    fake = FakeTwilio()

    def install() -> FakeTwilio:
        twilio_client.install_client(fake.client())
        return fake

    return install


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature as Twilio computes it (the official validator's own arithmetic)."""
    return str(RequestValidator(token).compute_signature(url, params))


@pytest.fixture
def post_twilio(async_client) -> Callable[..., Any]:
    """POST a form to one of our Twilio webhooks, signed as Twilio signs it for the public URL
    (https://phonebridge.test/..., PUBLIC_HOST in the tests)."""

    async def post(path: str, params: dict[str, str], *, query: str = "", **headers: str):
        full = f"{path}?{query}" if query else path
        signature = sign(f"https://phonebridge.test{full}", params)
        return await async_client.post(
            full,
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature, **headers},
        )

    return post


CALL_SID = "CA" + "a" * 32


def voice_params(call_sid: str = CALL_SID, **extra: str) -> dict[str, str]:
    """The voice webhook's parameters (https://www.twilio.com/docs/voice/twiml#request-parameters)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": "+15550002222",
        "Caller": "+15557654321",
        "Direction": "inbound",
        "From": "+15557654321",
        "To": "+15550002222",
        **extra,
    }


def status_params(call_sid: str, status: str, sequence: int, **extra: str) -> dict[str, str]:
    """A status callback (https://www.twilio.com/docs/voice/api/call-resource#statuscallback)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "CallStatus": status,
        "SequenceNumber": str(sequence),
        "Timestamp": f"Tue, 24 Nov 2026 10:00:{sequence:02d} +0000",
        "CallbackSource": "call-progress-events",
        "Direction": "outbound-api",
        "From": "+15550002222",
        "To": "+15551230000",
        **extra,
    }
