"""Webhook events applied to calls: any order, any duplicates, the same final state."""

from __future__ import annotations

import base64
import itertools
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import Call, CallEvent
from telephony.telnyx.handlers import record_event
from telephony.telnyx.webhooks import parse_event
from tests.conftest import webhook

pytestmark = pytest.mark.django_db


def event(event_type: str, payload: dict, *, at: str, event_id: str | None = None):
    envelope = webhook(
        event_type, payload, occurred_at=at, **({"id": event_id} if event_id else {})
    )
    return parse_event(json.dumps(envelope).encode())


def inbound_call_events(ccid: str) -> list:
    base = {
        "call_control_id": ccid,
        "call_leg_id": "leg",
        "call_session_id": f"s-{ccid}",
        "from": "+15557654321",
        "to": "+15550001111",
    }
    return [
        event(
            "call.initiated",
            {**base, "direction": "incoming", "state": "parked"},
            at="2026-11-22T10:00:00Z",
        ),
        event("call.answered", {**base, "state": "answered"}, at="2026-11-22T10:00:01Z"),
        event("streaming.started", {**base, "stream_url": "wss://x"}, at="2026-11-22T10:00:02Z"),
        event("call.dtmf.received", {**base, "digit": "5"}, at="2026-11-22T10:00:03Z"),
        event(
            "call.machine.detection.ended", {**base, "result": "human"}, at="2026-11-22T10:00:03Z"
        ),
        event("streaming.stopped", {**base}, at="2026-11-22T10:00:09Z"),
        event(
            "call.hangup",
            {
                **base,
                "hangup_cause": "normal_clearing",
                "hangup_source": "caller",
                "sip_hangup_cause": "200",
            },
            at="2026-11-22T10:00:10Z",
        ),
        event(
            "call.recording.saved",
            {**base, "recording_id": "r1", "recording_urls": {"wav": "https://s3/r1.wav"}},
            at="2026-11-22T10:00:11Z",
        ),
    ]


STATE_FIELDS = (
    "direction",
    "status",
    "from_number",
    "to_number",
    "answered_at",
    "streaming_started_at",
    "streaming_stopped_at",
    "ended_at",
    "hangup_cause",
    "hangup_source",
    "sip_hangup_cause",
    "amd_result",
    "telnyx_recording_urls",
    "failure_reason",
)


def final_state(ccid: str) -> dict:
    call = Call.objects.get(call_control_id=ccid)
    return {field: getattr(call, field) for field in STATE_FIELDS}


def apply_in_order(events: list) -> None:
    for e in events:
        record_event(e)


def test_the_canonical_order_ends_streaming_then_ended():
    apply_in_order(inbound_call_events("v3:canonical"))
    state = final_state("v3:canonical")
    assert state["status"] == "ended"
    assert state["hangup_cause"] == "normal_clearing"
    assert state["amd_result"] == "human"
    assert state["telnyx_recording_urls"][0]["urls"] == {"wav": "https://s3/r1.wav"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_with_duplicates_converges_to_the_canonical_state(data):
    reference_ccid = f"v3:ref-{uuid.uuid4()}"
    apply_in_order(inbound_call_events(reference_ccid))
    expected = final_state(reference_ccid)

    ccid = f"v3:shuffled-{uuid.uuid4()}"
    events = inbound_call_events(ccid)
    deliveries = data.draw(
        st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=6)))
    )
    apply_in_order(deliveries)

    assert final_state(ccid) == expected
    assert CallEvent.objects.filter(call__call_control_id=ccid, source="webhook").count() == len(
        events
    )


def test_a_late_answer_after_hangup_does_not_reopen_the_call():
    initiated, answered, *_, hangup, _saved = inbound_call_events("v3:late")
    apply_in_order([initiated, hangup, answered])
    assert final_state("v3:late")["status"] == "ended"


def test_a_hangup_that_beats_call_initiated_means_we_never_answer():
    initiated, *_, hangup, _saved = inbound_call_events("v3:early-hangup")
    assert record_event(hangup).follow_ups != ()  # notify the (absent) stream
    outcome = record_event(initiated)
    assert outcome.follow_ups == ()
    assert final_state("v3:early-hangup")["status"] == "ended"


def test_only_the_first_call_initiated_is_answered():
    initiated = inbound_call_events("v3:twice")[0]
    redelivered_with_new_id = event("call.initiated", initiated.payload, at="2026-11-22T10:00:00Z")
    assert len(record_event(initiated).follow_ups) == 1
    assert record_event(redelivered_with_new_id).follow_ups == ()


def test_an_outbound_call_is_found_by_its_client_state_and_rings():
    call = Call.objects.create(direction=Call.Direction.OUTBOUND, to_number="+15557654321")
    state = base64.b64encode(str(call.id).encode()).decode()
    record_event(
        event(
            "call.initiated",
            {
                "call_control_id": "v3:out",
                "direction": "outgoing",
                "client_state": state,
                "call_leg_id": "l",
                "call_session_id": "s",
            },
            at="2026-11-22T10:00:00Z",
        )
    )
    call.refresh_from_db()
    assert (call.status, call.call_control_id, call.call_session_id) == ("ringing", "v3:out", "s")


def test_events_of_a_transfer_target_leg_are_stored_but_do_not_end_our_call():
    apply_in_order(inbound_call_events("v3:a")[:3])
    other_leg = {
        "call_control_id": "v3:b",
        "call_session_id": "s-v3:a",
        "hangup_cause": "normal_clearing",
    }
    record_event(event("call.hangup", other_leg, at="2026-11-22T10:00:05Z"))
    call = Call.objects.get(call_control_id="v3:a")
    assert call.status == "streaming"
    assert call.events.filter(type="call.hangup").exists()


def test_streaming_failed_fails_the_call_and_hangs_up():
    initiated = inbound_call_events("v3:nostream")[0]
    record_event(initiated)
    outcome = record_event(
        event(
            "streaming.failed",
            {"call_control_id": "v3:nostream", "failure_reason": "connection_failed"},
            at="2026-11-22T10:00:02Z",
        )
    )
    state = final_state("v3:nostream")
    assert state["status"] == "failed"
    assert state["failure_reason"] == "media stream failed: connection_failed"
    assert len(outcome.follow_ups) == 1


def test_recordings_saved_twice_are_kept_once():
    events = inbound_call_events("v3:rec")
    saved = events[-1]
    again = event("call.recording.saved", saved.payload, at="2026-11-22T10:00:11Z")
    apply_in_order([events[0], saved, again])
    assert len(final_state("v3:rec")["telnyx_recording_urls"]) == 1


def test_every_pair_of_transitions_commutes():
    events = inbound_call_events("v3:pairs")
    for first, second in itertools.permutations(events[1:], 2):
        ccid = f"v3:pair-{uuid.uuid4()}"
        a = [
            e
            for e in inbound_call_events(ccid)
            if e.event_type in (first.event_type, second.event_type)
        ]
        b = [
            e
            for e in inbound_call_events(f"{ccid}-r")
            if e.event_type in (first.event_type, second.event_type)
        ]
        apply_in_order(a)
        apply_in_order(list(reversed(b)))
        left, right = final_state(ccid), final_state(f"{ccid}-r")
        assert left == right, (first.event_type, second.event_type)


def follow_up_names(outcome) -> list[str]:
    return [f.func.__name__ for f in outcome.follow_ups]


def test_a_stream_stopped_on_a_live_call_is_looked_after():
    initiated, answered, started = inbound_call_events("v3:lost")[:3]
    for e in (initiated, answered, started):
        record_event(e)
    stopped = event("streaming.stopped", {"call_control_id": "v3:lost"}, at="2026-11-22T10:00:09Z")
    outcome = record_event(stopped)
    assert follow_up_names(outcome) == ["notify_stream", "recover_stream"]
    [recover] = [f for f in outcome.follow_ups if f.func.__name__ == "recover_stream"]
    assert recover.keywords["stopped_at"] == stopped.occurred_at


def test_a_stream_stopped_after_the_hangup_needs_nothing_more():
    events = inbound_call_events("v3:over")
    for e in [*events[:3], events[6]]:  # initiated, answered, started, hangup
        record_event(e)
    stopped = event("streaming.stopped", {"call_control_id": "v3:over"}, at="2026-11-22T10:00:11Z")
    assert follow_up_names(record_event(stopped)) == ["notify_stream"]


def test_a_stream_stopped_about_a_stream_since_restarted_is_only_stored():
    for e in inbound_call_events("v3:again")[:3]:
        record_event(e)
    call = Call.objects.get(call_control_id="v3:again")
    CallEvent.note(call.pk, source="system", type="media.restarted", payload={"reason": "x"})
    late = event("streaming.stopped", {"call_control_id": "v3:again"}, at="2026-11-22T10:00:09Z")
    outcome = record_event(late)
    assert outcome.follow_ups == ()
    assert CallEvent.objects.filter(call=call, type="streaming.stopped").exists()


def answered_call_whose_socket_was_accepted(ccid: str) -> Call:
    for e in inbound_call_events(ccid)[:3]:  # initiated, answered, streaming.started
        record_event(e)
    call = Call.objects.get(call_control_id=ccid)
    token = call.issue_media_token(ttl_seconds=60)
    assert call.media_token_matches(token)
    assert call.claim_media_token()
    return call


def test_a_stream_stopped_after_its_session_ended_normally_needs_nothing_more():
    # The usual hang-up: the session records the `stop` frame before streaming.stopped comes.
    call = answered_call_whose_socket_was_accepted("v3:done")
    CallEvent.note(
        call.pk, source="media", type="media.stop", payload={"reason": "stopped by Telnyx"}
    )
    stopped = event("streaming.stopped", {"call_control_id": "v3:done"}, at="2026-11-22T10:00:09Z")
    outcome = record_event(stopped)
    assert outcome.follow_ups == ()
    assert Call.objects.get(pk=call.pk).streaming_stopped_at == stopped.occurred_at


@pytest.mark.parametrize("recorded_end", [None, "socket closed (1006)", "media consumer failed"])
def test_a_stream_stopped_before_its_session_ended_normally_is_looked_after(recorded_end):
    call = answered_call_whose_socket_was_accepted("v3:cut")
    if recorded_end is not None:  # None: the session has not recorded its end (yet)
        CallEvent.note(call.pk, source="media", type="media.stop", payload={"reason": recorded_end})
    stopped = event("streaming.stopped", {"call_control_id": "v3:cut"}, at="2026-11-22T10:00:09Z")
    assert follow_up_names(record_event(stopped)) == ["notify_stream", "recover_stream"]
