"""Reconciliation: a stale live call is asked about at its carrier, then hung up or closed."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from calls.models import Call, CallEvent
from telephony import reconcile, tasks
from telephony.reconcile import reconcile_call, recover_stream
from telephony.telnyx.handlers import record_event
from telephony.telnyx.webhooks import parse_event
from tests.conftest import webhook

pytestmark = pytest.mark.django_db(transaction=True)


async def stale_call(**fields) -> Call:
    values = {"direction": "inbound", "call_control_id": "v3:stale", "status": "streaming"}
    return await Call.objects.acreate(**{**values, **fields})


def alive(telnyx, is_alive: bool) -> None:
    telnyx.responses["/calls/v3:stale"] = [(200, {"data": {"is_alive": is_alive}}, {})]


async def test_an_orphan_still_alive_at_telnyx_is_hung_up(fake_telnyx):
    telnyx = fake_telnyx()
    alive(telnyx, True)
    call = await stale_call()
    done = await reconcile_call(call)
    assert done.action == "hung up"
    assert len(telnyx.bodies("/actions/hangup")) == 1
    await call.arefresh_from_db()
    assert (call.status, call.hangup_cause, call.hangup_source) == (
        "ended",
        "reconciled",
        "phonebridge",
    )
    assert await CallEvent.objects.filter(call=call, type="reconciled").aexists()


async def test_an_orphan_that_ends_as_we_hang_up_is_closed_all_the_same(fake_telnyx):
    telnyx = fake_telnyx()
    alive(telnyx, True)
    telnyx.fail("/actions/hangup", 422, "90018", "Call has already ended")
    done = await reconcile_call(await stale_call())
    assert done.action == "hung up"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, ""), "reconciled: Telnyx says the call has ended"),
        ((404, "10005"), "reconciled: unknown to Telnyx (ended long ago)"),
    ],
)
async def test_a_call_over_at_telnyx_is_closed_with_the_reason(fake_telnyx, answer, reason):
    telnyx = fake_telnyx()
    status, code = answer
    if code:
        telnyx.fail("/calls/v3:stale", status, code, "Resource not found")
    else:
        alive(telnyx, False)
    call = await stale_call()
    assert (await reconcile_call(call)).reason == reason
    assert telnyx.bodies("/actions/hangup") == []
    await call.arefresh_from_db()
    assert call.status == "ended"


async def test_a_call_telnyx_cannot_tell_about_is_left_for_next_time(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/calls/v3:stale", 401, "10009", "Authentication failed")
    call = await stale_call()
    done = await reconcile_call(call)
    assert (done.action, done.reason) == ("skipped", "Telnyx error 10009: Authentication failed")
    await call.arefresh_from_db()
    assert call.status == "streaming"


async def test_a_call_that_never_reached_telnyx_is_failed(fake_telnyx):
    telnyx = fake_telnyx()
    call = await stale_call(call_control_id=None, status="initiated")
    done = await reconcile_call(call)
    assert (done.action, done.reason) == ("failed", "reconciled: never reached Telnyx")
    assert telnyx.requests == []


# Telnyx's own hangup, arriving after we reconciled -------------------------------------

HANGUP = {
    "call_control_id": "v3:stale",
    "hangup_cause": "originator_cancel",
    "hangup_source": "caller",
    "sip_hangup_cause": "487",
}


def deliver(event_type: str, payload: dict, at: str = "2026-11-22T10:05:00Z"):
    import json

    return record_event(
        parse_event(json.dumps(webhook(event_type, payload, occurred_at=at)).encode())
    )


async def test_telnyxs_hangup_replaces_the_cause_of_a_call_we_reconciled(fake_telnyx):
    telnyx = fake_telnyx()
    alive(telnyx, False)
    call = await stale_call()
    await reconcile_call(call)
    await call.arefresh_from_db()
    assert call.hangup_cause == "reconciled"
    await sync_to_async(deliver)("call.hangup", HANGUP)
    await call.arefresh_from_db()
    assert (call.hangup_cause, call.hangup_source, call.sip_hangup_cause) == (
        "originator_cancel",
        "caller",
        "487",
    )
    assert call.ended_at.isoformat() == "2026-11-22T10:05:00+00:00"  # Telnyx knows when


async def test_a_reconciliation_after_telnyxs_hangup_does_not_overwrite_its_cause(fake_telnyx):
    telnyx = fake_telnyx()
    alive(telnyx, False)
    call = await stale_call()
    await sync_to_async(deliver)("call.hangup", HANGUP)
    await reconcile_call(call)
    await call.arefresh_from_db()
    assert (call.hangup_cause, call.hangup_source, call.sip_hangup_cause) == (
        "originator_cancel",
        "caller",
        "487",
    )


# A stream lost mid-call (its worker died) ----------------------------------------------


async def live_stream_call(**fields) -> Call:
    """A streaming call whose current media socket was accepted a moment ago."""
    call = await stale_call(**fields)
    token = await sync_to_async(call.issue_media_token)(ttl_seconds=60)
    assert call.media_token_matches(token)
    await sync_to_async(call.claim_media_token)()
    return call


async def note(call: Call, event_type: str, payload: dict) -> None:
    await sync_to_async(CallEvent.note)(call.pk, source="media", type=event_type, payload=payload)


async def test_a_stream_whose_session_never_ended_is_restarted_within_the_grace(fake_telnyx):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    started = time.monotonic()
    done = await recover_stream(call_id=call.pk, stopped_at=timezone.now())
    elapsed = time.monotonic() - started
    assert done == "restarted"
    assert reconcile.STREAM_END_GRACE_SECONDS <= elapsed < reconcile.STREAM_END_GRACE_SECONDS + 1
    [start] = telnyx.bodies("/actions/streaming_start")
    await call.arefresh_from_db()
    assert call.media_token_matches(start["stream_url"].rsplit("/", 1)[1])
    event = await CallEvent.objects.aget(call=call, type="media.restarted")
    assert event.payload["reason"] == "media stream lost: its session never ended"


async def test_a_stream_whose_socket_dropped_without_stop_is_restarted_at_once(fake_telnyx):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    await note(call, "media.stop", {"reason": "socket closed (1006)"})
    started = time.monotonic()
    assert await recover_stream(call_id=call.pk, stopped_at=timezone.now()) == "restarted"
    assert time.monotonic() - started < 1
    assert len(telnyx.bodies("/actions/streaming_start")) == 1


@pytest.mark.parametrize("reason", ["stopped by Telnyx", "too many malformed frames (51)"])
async def test_a_stream_that_ended_normally_is_left_alone(fake_telnyx, reason):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    await note(call, "media.stop", {"reason": reason})
    assert await recover_stream(call_id=call.pk, stopped_at=timezone.now()) == "nothing"
    assert telnyx.requests == []


async def test_an_end_recorded_before_the_current_socket_does_not_count(fake_telnyx):
    telnyx = fake_telnyx()
    call = await stale_call()
    await note(call, "media.stop", {"reason": "stopped by Telnyx"})  # an earlier stream's
    await sync_to_async(call.issue_media_token)(ttl_seconds=60)
    await sync_to_async(call.claim_media_token)()
    assert await recover_stream(call_id=call.pk, stopped_at=timezone.now()) == "restarted"
    assert len(telnyx.bodies("/actions/streaming_start")) == 1


async def test_the_newest_end_recorded_since_the_current_socket_is_the_one_that_counts(
    fake_telnyx,
):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    await note(call, "media.stop", {"reason": "socket closed (1006)"})
    await note(call, "media.stop", {"reason": "stopped by Telnyx"})
    assert await recover_stream(call_id=call.pk, stopped_at=timezone.now()) == "nothing"
    assert telnyx.requests == []


async def test_a_call_deleted_meanwhile_needs_nothing(fake_telnyx):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    await Call.objects.filter(pk=call.pk).adelete()
    assert await recover_stream(call_id=call.pk, stopped_at=timezone.now()) == "nothing"
    assert telnyx.requests == []


async def test_a_call_that_hangs_up_meanwhile_gets_no_new_stream(fake_telnyx):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    stopped_at = timezone.now()
    recovery = tasks.spawn(recover_stream(call_id=call.pk, stopped_at=stopped_at), name="recover")
    await sync_to_async(deliver)("call.hangup", {**HANGUP, "hangup_cause": "normal_clearing"})
    assert await recovery == "nothing"
    assert telnyx.requests == []


async def test_a_stop_about_a_stream_since_replaced_is_ignored(fake_telnyx):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    stopped_at = timezone.now() - timedelta(seconds=5)
    await sync_to_async(CallEvent.note)(
        call.pk, source="system", type="media.restarted", payload={"reason": "earlier"}
    )
    assert await recover_stream(call_id=call.pk, stopped_at=stopped_at) == "nothing"
    assert telnyx.requests == []


async def test_after_the_last_restart_the_caller_gets_the_apology(fake_telnyx, settings):
    telnyx = fake_telnyx()
    call = await live_stream_call()
    for i in range(reconcile.MAX_STREAM_RESTARTS):
        await sync_to_async(CallEvent.note)(
            call.pk, source="system", type="media.restarted", payload={"reason": str(i)}
        )
    await note(call, "media.stop", {"reason": "socket closed (1006)"})
    assert await recover_stream(call_id=call.pk, stopped_at=timezone.now()) == "apologised"
    assert telnyx.bodies("/actions/streaming_start") == []
    assert [b["payload"] for b in telnyx.bodies("/actions/speak")] == [settings.APOLOGY_TEXT]
    await call.arefresh_from_db()
    assert call.status == "failed"
    assert call.failure_reason == (
        "media stream lost (socket closed (1006)); given up after 3 restarts"
    )
