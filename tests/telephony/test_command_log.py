"""The carriers' shared command log and retry loop: one row a command, written when it starts
(its media token redacted) and its outcome's columns when it ends, tries spent within a
budget, and a stop at once when another try could do the work twice."""

from __future__ import annotations

import httpx
import pytest

from calls.models import Call, CarrierCommand
from telephony.carrier import CarrierError
from telephony.command_log import Command, Failure, Interrupted, send
from telephony.http import backoff, retry_after

pytestmark = pytest.mark.django_db(transaction=True)

STREAM_URL = "wss://h/telnyx/media/c/SECRET-TOKEN"


class EndedError(CarrierError):
    """A carrier's refusal because the call is over (Telnyx 90018, Twilio 21220)."""

    @property
    def already_ended(self) -> bool:
        return self.code == "ended"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def answered(status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"data": {}})


async def start(**overrides) -> Command:
    fields = {
        "carrier": Call.Carrier.TWILIO,
        "call": None,
        "name": "streaming_start",
        "method": "POST",
        "path": "calls/v3:abc/actions/streaming_start",
        "request_body": {"stream_url": STREAM_URL},
        "command_id": None,
    }
    return await Command.start(**{**fields, **overrides})


async def test_a_command_is_logged_with_its_token_redacted_and_then_its_outcome():
    command = await start()
    response = await send(
        command, lambda n: _async(answered()), errors=CarrierError, max_attempts=3, sleep=Sleeps()
    )
    assert response.status_code == 200
    row = await CarrierCommand.objects.aget()
    assert row.carrier == Call.Carrier.TWILIO
    assert "SECRET-TOKEN" not in str(row.request_body)
    assert (row.ok, row.attempts, row.status_code) == (True, 1, 200)
    assert row.finished_at is not None
    assert row.latency_ms is not None


async def test_a_failure_is_tried_again_after_its_delay_until_the_budget_is_spent():
    sleeps = Sleeps()
    error = CarrierError("dial: HTTP 503", status_code=503, code="503", permanent=False)

    async def attempt(number: int) -> Failure:
        return Failure(error, delay=0.1 * number)

    with pytest.raises(CarrierError):
        await send(await start(), attempt, errors=CarrierError, max_attempts=3, sleep=sleeps)
    assert sleeps.delays == [0.1, 0.2]  # none after the last try
    row = await CarrierCommand.objects.aget()
    assert (row.ok, row.attempts, row.status_code, row.error_code) == (False, 3, 503, "503")


async def test_a_permanent_refusal_is_not_tried_again():
    sleeps = Sleeps()
    error = CarrierError("dial: HTTP 422", status_code=422, title="Invalid number")

    with pytest.raises(CarrierError):
        await send(
            await start(),
            lambda n: _async(Failure(error, 1.0)),
            errors=CarrierError,
            max_attempts=4,
            sleep=sleeps,
        )
    assert sleeps.delays == []
    row = await CarrierCommand.objects.aget()
    assert (row.attempts, row.error_title) == (1, "Invalid number")


async def test_an_interrupted_attempt_stops_at_once_and_its_error_is_the_outcome():
    error = CarrierError("dial: HTTP 502", status_code=502, permanent=False)

    async def attempt(number: int) -> Failure:
        raise Interrupted(error, delay=0.5)

    with pytest.raises(Interrupted) as raised:
        await send(await start(), attempt, errors=CarrierError, max_attempts=4, sleep=Sleeps())
    assert raised.value.error is error
    assert raised.value.delay == 0.5
    row = await CarrierCommand.objects.aget()
    assert (row.ok, row.attempts, row.status_code) == (False, 1, 502)


async def test_a_refusal_because_the_call_already_ended_is_logged_as_done_and_observed():
    seen: list[tuple[str, CarrierError | None]] = []
    command = await start(observe=lambda name, seconds, error: seen.append((name, error)))
    error = EndedError("hangup: HTTP 422", status_code=422, code="ended")

    with pytest.raises(EndedError):
        await send(
            command,
            lambda n: _async(Failure(error, 0)),
            errors=EndedError,
            max_attempts=2,
            sleep=Sleeps(),
        )
    row = await CarrierCommand.objects.aget()
    assert (row.ok, row.error_code) == (True, "ended")
    assert seen == [("streaming_start", error)]


async def test_an_unlogged_read_writes_no_row_and_is_not_observed():
    seen: list[str] = []
    command = await start(method="GET", logged=False, observe=lambda name, s, e: seen.append(name))
    await send(
        command, lambda n: _async(answered()), errors=CarrierError, max_attempts=1, sleep=Sleeps()
    )
    assert await CarrierCommand.objects.acount() == 0
    assert seen == []


def test_retry_after_takes_the_first_readable_header_and_caps_it():
    response = httpx.Response(429, headers={"retry-after": "soon", "x-ratelimit-reset": "30"})
    headers = ("retry-after", "x-ratelimit-reset")
    assert retry_after(response, cap=8.0, headers=headers) == 8.0
    assert retry_after(response, cap=8.0) is None  # only Retry-After, and it is unreadable
    assert retry_after(httpx.Response(429, headers={"retry-after": "-3"}), cap=8.0) == 0.0


def test_backoff_is_capped_before_its_jitter():
    delays = [backoff(100.0, cap=4.0) for _ in range(200)]
    assert all(3.2 <= delay <= 4.8 for delay in delays)
    assert len(set(delays)) > 1  # refused clients do not all come back at the same moment


async def _async(value):
    return value
