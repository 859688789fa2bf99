"""10,000 hostile deliveries to POST /telnyx/events, each answered with its one right status,
and the database holding only what verified envelopes carried."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.test import AsyncRequestFactory
from hypothesis import HealthCheck, given, settings

from calls.models import Call, CallEvent, CarrierCommand
from phonebridge.asgi import application
from telephony import tasks
from telephony.telnyx.views import telnyx_webhook
from tests.fuzz.envelopes import DIALED_CALL_ID
from tests.fuzz.webhook_cases import Delivery, deliveries

pytestmark = pytest.mark.django_db(transaction=True)

CASES = 10_000
ASGI_CASES = 300  # Django's ASGI handler costs 1.5 ms a request: the view runs the 10,000
CHECK_EVERY = 1_000  # database invariants are checked in batches: they cost a few queries


@dataclass
class Ledger:
    """What the server must have stored: only what deliveries expected to get a 200 carried."""

    event_ids: set[str] = field(default_factory=set)
    call_control_ids: set[str] = field(default_factory=set)
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def cases(self) -> int:
        return sum(self.kinds.values())


async def deliver(delivery: Delivery) -> tuple[int, bytes]:
    """Through phonebridge.asgi: the path router and Django's handler without middleware."""
    length = delivery.content_length or str(len(delivery.body))
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/json"),
        (b"content-length", length.encode()),
        (b"user-agent", b"telnyx-webhooks"),
        *((name.encode(), value.encode("latin-1")) for name, value in delivery.headers.items()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": delivery.method,
        "scheme": "https",
        "path": "/telnyx/events",
        "raw_path": b"/telnyx/events",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("192.0.2.1", 40000),
        "server": ("testserver", 443),
    }
    inbound = [{"type": "http.request", "body": delivery.body, "more_body": False}]
    response: dict[str, object] = {"body": b""}

    async def receive() -> dict[str, object]:
        if inbound:
            return inbound.pop()
        await asyncio.Future()  # Telnyx waits for the answer; Django cancels this listener
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            response["status"] = message["status"]
        else:
            response["body"] += message.get("body", b"")  # type: ignore[operator]

    await application(scope, receive, send)
    return response["status"], response["body"]  # type: ignore[return-value]


def check_the_ledger(ledger: Ledger) -> None:
    webhooks = CallEvent.objects.filter(source=CallEvent.Source.WEBHOOK)
    stored = set(webhooks.values_list("event_id", flat=True))
    assert stored == ledger.event_ids, (
        f"stored but never accepted: {sorted(stored - ledger.event_ids)[:5]}; "
        f"accepted but not stored: {sorted(ledger.event_ids - stored)[:5]}"
    )
    first_event: dict[object, str] = {}
    for call_id, event_type in (
        webhooks.exclude(call=None).order_by("id").values_list("call_id", "type")
    ):
        first_event.setdefault(call_id, event_type)
    answered = set(
        CarrierCommand.objects.filter(name="answer", ok=True).values_list("call_id", flat=True)
    )
    for call in Call.objects.exclude(pk=DIALED_CALL_ID):
        assert call.pk in first_event, f"{call!r} ({call.call_control_id!r}) has no webhook"
        assert call.call_control_id in ledger.call_control_ids, call.call_control_id
        if first_event[call.pk] == "call.initiated" and call.direction == "inbound":
            assert call.pk in answered, f"inbound {call.call_control_id!r} was never answered"
    dialed = Call.objects.get(pk=DIALED_CALL_ID)
    assert dialed.call_control_id in (None, *ledger.call_control_ids)
    assert not CarrierCommand.objects.filter(finished_at=None).exists()


async def call_the_view(delivery: Delivery) -> tuple[int, bytes]:
    request = AsyncRequestFactory().generic(
        delivery.method,
        "/telnyx/events",
        data=delivery.body,
        content_type="application/json",
        headers=delivery.headers,
    )
    if delivery.content_length is not None:
        request.META["CONTENT_LENGTH"] = delivery.content_length
    response = await telnyx_webhook(request)
    return response.status_code, response.content


def fuzz(runner, server_errors, send, cases: int) -> Ledger:
    """Send `cases` deliveries; check each answer, and the database every CHECK_EVERY."""
    # As services.place_call leaves it before Telnyx's call.initiated names its leg.
    Call.objects.create(pk=DIALED_CALL_ID, direction="outbound", to_number="+15550002222")
    ledger = Ledger()

    @settings(
        max_examples=cases,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(delivery=deliveries())
    def run(delivery: Delivery) -> None:
        status, content = runner.run(send(delivery))
        errors = server_errors.take()
        assert not errors, errors
        assert status == delivery.expected, content[:300]
        if status == 200:
            assert delivery.event_id is not None
            duplicate = delivery.event_id in ledger.event_ids
            assert json.loads(content) == {"status": "duplicate" if duplicate else "stored"}
            ledger.event_ids.add(delivery.event_id)
            if delivery.call_control_id and not duplicate:
                ledger.call_control_ids.add(delivery.call_control_id)
        ledger.kinds[delivery.kind] += 1
        if ledger.cases % CHECK_EVERY == 0:
            runner.run(tasks.drain())
            assert not server_errors.take()
            check_the_ledger(ledger)

    run()
    runner.run(tasks.drain())
    assert not server_errors.take()
    check_the_ledger(ledger)
    assert ledger.cases >= cases, ledger.kinds
    return ledger


def test_every_hostile_delivery_gets_its_status_and_only_verified_events_are_stored(
    runner, telnyx, server_errors
):
    ledger = fuzz(runner, server_errors, call_the_view, CASES)
    assert ledger.kinds["valid"] > CASES // 3, ledger.kinds
    assert Call.objects.count() > 100  # the fuzz reached the handlers, not only the refusals


def test_the_asgi_app_answers_hostile_deliveries_as_the_view_does(runner, telnyx, server_errors):
    # The full stack (router, Django's ASGI handler without middleware) turns an uncaught
    # exception into a 500 rather than raising; a smaller run proves the wiring.
    fuzz(runner, server_errors, deliver, ASGI_CASES)
