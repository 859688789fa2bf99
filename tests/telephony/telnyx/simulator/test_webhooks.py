from __future__ import annotations

import asyncio
import base64
import re
import time

import pytest
from nacl.signing import VerifyKey

from telephony.simulation.scenario import WebhookFaults
from telephony.telnyx.signing import WebhookSigner, public_key_for_seed
from telephony.telnyx.simulator.webhooks import Event, WebhookSender

pytestmark = pytest.mark.timeout(30)


def sender_for(**options) -> WebhookSender:
    options.setdefault("backoff_s", 0.01)
    return WebhookSender(WebhookSigner(bytes(32)), seed=3, **options)


def event(receiver, event_type: str = "call.initiated", **fields) -> Event:
    payload = {"call_control_id": "v3:abc", "client_state": None}
    return Event(event_type, payload, url=receiver.url, **fields)


async def deliver(sender: WebhookSender, *events: Event) -> None:
    for item in events:
        sender.send("v3:abc", item)
    await sender.flush()
    await sender.aclose()


def test_it_signs_the_timestamp_a_pipe_and_the_body_with_ed25519():
    signer = WebhookSigner(bytes(range(32)))

    headers = signer.sign(b'{"a":1}', 1700000000)

    key = VerifyKey(base64.b64decode(signer.public_key_b64))
    signature = base64.b64decode(headers["telnyx-signature-ed25519"])
    assert len(signature) == 64
    assert headers["telnyx-timestamp"] == "1700000000"
    key.verify(b'1700000000|{"a":1}', signature)


def test_it_derives_the_same_public_key_from_the_same_seed():
    seed = bytes(range(32))

    assert WebhookSigner(seed).public_key_b64 == WebhookSigner(seed).public_key_b64
    assert len(base64.b64decode(WebhookSigner(seed).public_key_b64)) == 32
    assert WebhookSigner().public_key_b64 != WebhookSigner().public_key_b64


def test_it_refuses_a_seed_that_is_not_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        WebhookSigner(b"short")


async def test_it_posts_the_telnyx_envelope_with_signed_headers(receiver):
    sender = sender_for()

    await deliver(sender, event(receiver))

    [received] = receiver.received
    assert received.verified_by(sender.signer.public_key_b64)
    assert received.headers["user-agent"] == "telnyx-webhooks"
    assert received.headers["content-type"] == "application/json"
    assert abs(int(received.headers["telnyx-timestamp"]) - time.time()) < 5
    body = received.json
    assert body["meta"] == {"attempt": 1, "delivered_to": receiver.url}
    assert body["data"]["record_type"] == "event"
    assert body["data"]["event_type"] == "call.initiated"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["data"]["occurred_at"])
    assert body["data"]["payload"]["client_state"] is None


async def test_it_retries_a_server_error_with_a_rising_attempt_and_a_fresh_signature(receiver):
    receiver.statuses.extend([500, 503])
    sender = sender_for()

    await deliver(sender, event(receiver))

    attempts = [r.json["meta"]["attempt"] for r in receiver.received]
    assert attempts == [1, 2, 3]
    assert len({r.json["data"]["id"] for r in receiver.received}) == 1
    assert all(r.verified_by(sender.signer.public_key_b64) for r in receiver.received)
    assert [d.status for d in sender.deliveries] == [500, 503, 200]


async def test_it_gives_up_after_max_attempts(receiver):
    receiver.statuses.extend([500] * 5)
    sender = sender_for(max_attempts=2)

    await deliver(sender, event(receiver))

    assert len(receiver.received) == 2


@pytest.mark.parametrize(("status", "attempts"), [(400, 1), (404, 1), (408, 2), (429, 2)])
async def test_it_retries_only_408_and_429_among_client_errors(receiver, status, attempts):
    receiver.statuses.append(status)
    sender = sender_for()

    await deliver(sender, event(receiver))

    assert len(receiver.received) == attempts


async def test_it_retries_a_receiver_that_answers_too_slowly(receiver):
    receiver.delay_s = 0.3
    sender = sender_for(timeout_s=0.1, max_attempts=2)

    await deliver(sender, event(receiver))

    assert [d.status for d in sender.deliveries] == [None, None]
    assert "Timeout" in (sender.deliveries[0].error or "")


async def test_it_falls_over_to_the_failover_url(receiver):
    sender = sender_for(max_attempts=1)
    dead = "http://127.0.0.1:9/telnyx/events"

    await deliver(sender, Event("call.hangup", {}, url=dead, failover_url=receiver.url))

    [received] = receiver.received
    assert received.json["meta"] == {"attempt": 2, "delivered_to": receiver.url}


async def test_it_delivers_one_call_s_events_in_order(receiver):
    sender = sender_for()
    names = [f"call.e{i}" for i in range(8)]

    await deliver(sender, *(event(receiver, name) for name in names))

    assert receiver.types() == names


async def test_it_duplicates_deliveries_with_the_same_event_id(receiver):
    sender = sender_for(faults=WebhookFaults(duplicate=1.0))

    await deliver(sender, event(receiver))

    first, second = receiver.received
    assert first.json["data"]["id"] == second.json["data"]["id"]


async def test_it_shuffles_a_window_of_events_when_asked(receiver):
    sender = sender_for(faults=WebhookFaults(reorder_window=4))
    names = [f"call.e{i}" for i in range(4)]

    await deliver(sender, *(event(receiver, name) for name in names))

    assert sorted(receiver.types()) == names
    assert receiver.types() != names


async def test_it_sends_a_bad_signature_then_a_clean_retry(receiver):
    receiver.statuses.append(403)
    sender = sender_for(faults=WebhookFaults(bad_signature=1.0))

    await deliver(sender, event(receiver))

    forged, clean = receiver.received
    key = sender.signer.public_key_b64
    assert not forged.verified_by(key)
    assert clean.verified_by(key)
    assert clean.json["meta"]["attempt"] == 2


async def test_it_can_leave_out_the_signature_header(receiver):
    receiver.statuses.append(401)
    sender = sender_for(faults=WebhookFaults(missing_header=1.0))

    await deliver(sender, event(receiver))

    assert "telnyx-signature-ed25519" not in receiver.received[0].headers
    assert "telnyx-signature-ed25519" in receiver.received[1].headers


async def test_it_skews_the_timestamp_and_still_signs_it(receiver):
    sender = sender_for(faults=WebhookFaults(skew_s=-400))

    await deliver(sender, event(receiver))

    [received] = receiver.received
    assert int(received.headers["telnyx-timestamp"]) < time.time() - 390
    assert received.verified_by(sender.signer.public_key_b64)


async def test_it_names_events_the_v1_way_for_a_v1_application(receiver):
    sender = sender_for()

    await deliver(sender, event(receiver, api_version="1"))

    assert receiver.received[0].json["data"]["event_type"] == "call_initiated"


async def test_it_delivers_different_calls_concurrently(receiver):
    receiver.delay_s = 0.2
    sender = sender_for()
    started = asyncio.get_running_loop().time()

    for lane in ("a", "b", "c"):
        sender.send(lane, event(receiver))
    await sender.flush()
    await sender.aclose()

    assert asyncio.get_running_loop().time() - started < 0.5


def test_it_gives_the_public_key_for_a_seed_without_a_signer():
    assert public_key_for_seed(bytes(32)) == WebhookSigner(bytes(32)).public_key_b64
