from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from calls.models import Call, CallEvent

pytestmark = pytest.mark.django_db

T0 = timezone.now()


def make_call(**fields) -> Call:
    return Call.objects.create(direction=Call.Direction.INBOUND, from_number="+15550001", **fields)


def test_a_new_call_starts_initiated():
    assert make_call().status == Call.Status.INITIATED


def test_it_moves_through_the_happy_path():
    call = make_call()
    assert call.mark_ringing(at=T0)
    assert call.mark_answered(at=T0 + timedelta(seconds=1))
    assert call.mark_streaming(at=T0 + timedelta(seconds=2))
    assert call.mark_ended(at=T0 + timedelta(seconds=9), cause="normal_clearing", source="caller")
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED
    assert call.duration == timedelta(seconds=8)
    assert (call.hangup_cause, call.hangup_source) == ("normal_clearing", "caller")


def test_it_refuses_to_move_backwards():
    call = make_call()
    call.mark_streaming(at=T0)
    assert not call.mark_answered(at=T0)
    assert call.status == Call.Status.STREAMING


def test_a_late_answer_does_not_reopen_an_ended_call_but_is_remembered():
    call = make_call()
    call.mark_ended(at=T0 + timedelta(seconds=5), cause="normal_clearing")
    assert not call.mark_answered(at=T0)
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED
    assert call.answered_at == T0


def test_failed_wins_over_ended_whatever_the_order():
    first, second = make_call(), make_call()
    first.mark_ended(at=T0)
    first.mark_failed(reason="agent unavailable")
    second.mark_failed(reason="agent unavailable")
    second.mark_ended(at=T0)
    assert first.status == second.status == Call.Status.FAILED
    assert not second.mark_ended(at=T0)


def test_it_records_facts_only_once():
    call = make_call()
    call.mark_ended(at=T0, cause="normal_clearing", source="caller")
    call.mark_ended(at=T0 + timedelta(seconds=3), cause="timeout", source="callee")
    call.refresh_from_db()
    assert (call.ended_at, call.hangup_cause, call.hangup_source) == (
        T0,
        "normal_clearing",
        "caller",
    )


def test_a_transition_is_won_by_exactly_one_copy_of_the_row():
    call = make_call()
    stale = Call.objects.get(pk=call.pk)
    assert call.mark_answered(at=T0)
    assert not stale.mark_answered(at=T0)


def test_each_state_change_is_written_to_the_history():
    call = make_call()
    call.mark_answered(at=T0)
    call.mark_ended(at=T0)
    types = list(call.events.values_list("type", flat=True))
    assert types == ["state.answered", "state.ended"]


def test_event_ids_are_unique():
    call = make_call()
    CallEvent.objects.create(call=call, event_id="evt-1", type="call.answered")
    with pytest.raises(IntegrityError):
        CallEvent.objects.create(call=call, event_id="evt-1", type="call.answered")


def test_the_media_token_is_stored_only_as_a_hash():
    call = make_call()
    token = call.issue_media_token(ttl_seconds=60)
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    assert token not in call.media_token_hash
    assert call.media_token_matches(token)
    assert not call.media_token_matches(token + "x")


def test_the_media_token_expires():
    call = make_call()
    token = call.issue_media_token(ttl_seconds=60)
    Call.objects.filter(pk=call.pk).update(
        media_token_expires_at=timezone.now() - timedelta(seconds=1)
    )
    call.refresh_from_db()
    assert not call.media_token_matches(token)


def test_the_media_token_dies_with_the_call():
    call = make_call()
    token = call.issue_media_token(ttl_seconds=60)
    call.mark_ended(at=timezone.now())
    call.refresh_from_db()
    assert not call.media_token_matches(token)


def test_the_media_token_can_be_claimed_once():
    call = make_call()
    token = call.issue_media_token(ttl_seconds=60)
    assert call.claim_media_token()
    assert not Call.objects.get(pk=call.pk).claim_media_token()
    call.refresh_from_db()
    assert not call.media_token_matches(token)


# The bridge's own state -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_bridge_moves_only_along_the_table():
    call = await Call.objects.acreate(direction=Call.Direction.INBOUND)
    assert not await Call.amove_bridge(call.pk, Call.BridgeStatus.READY)  # not preparing yet
    assert await Call.amove_bridge(call.pk, Call.BridgeStatus.PREPARING)
    assert not await Call.amove_bridge(call.pk, Call.BridgeStatus.PREPARING)  # only once
    assert await Call.amove_bridge(call.pk, Call.BridgeStatus.JOINED, bridge_join_ms=35)
    assert await Call.amove_bridge(call.pk, Call.BridgeStatus.ENDED)
    assert not await Call.amove_bridge(call.pk, Call.BridgeStatus.FAILED, bridge_error="late")
    await call.arefresh_from_db()
    assert (call.bridge_status, call.bridge_join_ms, call.bridge_error) == ("ended", 35, "")


@pytest.mark.django_db(transaction=True)
async def test_of_two_racing_moves_one_wins():
    call = await Call.objects.acreate(
        direction=Call.Direction.INBOUND, bridge_status=Call.BridgeStatus.READY
    )
    won = await asyncio.gather(
        Call.amove_bridge(call.pk, Call.BridgeStatus.FAILED, bridge_error="agent left"),
        Call.amove_bridge(call.pk, Call.BridgeStatus.ENDED),
    )
    assert sorted(won) == [False, True]
    await call.arefresh_from_db()
    assert call.bridge_status == ("failed" if won[0] else "ended")


@pytest.mark.django_db(transaction=True)
async def test_the_bridge_learns_facts_only_while_it_wants_them():
    call = await Call.objects.acreate(
        direction=Call.Direction.INBOUND, bridge_status=Call.BridgeStatus.JOINED
    )
    assert not await Call.arecord_bridge_fact(call.pk, "stream_call_id", "too-late")
    assert await Call.arecord_bridge_fact(call.pk, "agent_session_id", "session-1")
    await Call.amove_bridge(call.pk, Call.BridgeStatus.ENDED)
    assert not await Call.arecord_bridge_fact(call.pk, "agent_session_id", "session-2")
    await call.arefresh_from_db()
    assert (call.stream_call_id, call.agent_session_id) == ("", "session-1")


# Calls that never connected ---------------------------------------------------------------


def make_outbound(**fields) -> Call:
    return Call.objects.create(
        direction=Call.Direction.OUTBOUND, to_number="+15559990000", created_at=T0, **fields
    )


def test_an_inbound_call_the_caller_gave_up_on_is_missed_with_its_ring_time():
    call = make_call(created_at=T0)
    call.mark_ended(at=T0 + timedelta(seconds=7), cause="originator_cancel", source="caller")
    call.refresh_from_db()
    assert call.status == Call.Status.MISSED
    assert call.ring_time == timedelta(seconds=7)
    assert call.story == "Missed: the caller hung up after 7.0 s of ringing, before we answered."
    assert not call.is_live


@pytest.mark.parametrize(
    ("cause", "status"),
    [
        ("user_busy", Call.Status.BUSY),
        ("call_rejected", Call.Status.REJECTED),
        ("timeout", Call.Status.NO_ANSWER),
        ("no_answer", Call.Status.NO_ANSWER),
        ("originator_cancel", Call.Status.NO_ANSWER),
    ],
)
def test_an_outbound_call_that_never_connected_has_its_outcome(cause, status):
    call = make_outbound()
    call.mark_ringing(at=T0 + timedelta(milliseconds=1500))
    call.mark_ended(at=T0 + timedelta(seconds=20), cause=cause, source="callee")
    call.refresh_from_db()
    assert call.status == status
    assert call.post_dial_delay == timedelta(milliseconds=1500)
    assert call.ring_time == timedelta(seconds=18.5)
    assert call.story.startswith(f"{call.get_status_display()}: +15559990000")
    assert "Post-dial delay 1.5 s." in call.story


def test_normal_clearing_means_the_call_was_answered_even_before_the_answer_arrives():
    call = make_call()
    call.mark_ended(at=T0, cause="normal_clearing", source="caller")
    assert call.status == Call.Status.ENDED


@pytest.mark.parametrize("hangup_first", [True, False])
def test_a_late_answer_to_a_missed_call_ends_it_as_if_it_had_come_first(hangup_first):
    call = make_call()
    steps = [
        lambda: call.mark_ended(at=T0 + timedelta(seconds=5), cause="originator_cancel"),
        lambda: call.mark_answered(at=T0 + timedelta(seconds=1)),
    ]
    for step in steps if hangup_first else reversed(steps):
        step()
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED
    assert call.duration == timedelta(seconds=4)
    assert call.events.filter(type="state.missed").exists() == hangup_first


def test_a_late_answer_reports_that_it_did_not_answer_the_call():
    call = make_call()
    call.mark_ended(at=T0, cause="originator_cancel")
    assert not call.mark_answered(at=T0)  # nothing must start a transcription on it
    assert call.status == Call.Status.ENDED


def test_a_hangup_racing_an_answer_on_a_stale_copy_still_ends_the_call():
    call = make_call()
    stale = Call.objects.get(pk=call.pk)  # another worker's copy, from before the answer
    call.mark_answered(at=T0)
    stale.mark_ended(at=T0 + timedelta(seconds=3), cause="originator_cancel")
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED


def test_a_failure_wins_over_a_missed_call():
    call = make_call()
    call.mark_failed(reason="answer failed: Telnyx error 90018: Call has already ended")
    call.mark_ended(at=T0, cause="originator_cancel")
    assert call.status == Call.Status.FAILED


def test_statuses_form_a_join_semilattice():
    statuses = Call.Status.values
    for a in statuses:
        assert Call.join(a, a) == a
        assert Call.join(Call.Status.INITIATED, a) == a
        assert Call.join(Call.Status.FAILED, a) == Call.Status.FAILED
        for b in statuses:
            assert Call.join(a, b) == Call.join(b, a)
            for c in statuses:
                assert Call.join(Call.join(a, b), c) == Call.join(a, Call.join(b, c))


def test_every_status_is_either_live_or_final():
    assert set(Call.LIVE_STATUSES) | set(Call.FINAL_STATUSES) == set(Call.Status.values)
    assert not set(Call.LIVE_STATUSES) & set(Call.FINAL_STATUSES)


# Failure stories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "story"),
    [
        (
            "answer failed: Telnyx error 90018: Call has already ended",
            "The caller heard ringing and was never connected: we could not answer. "
            "Telnyx refused our answer: Telnyx error 90018: Call has already ended",
        ),
        (
            "answer failed: answer: no response from Telnyx (ReadTimeout)",
            "The caller heard ringing and was never connected: we could not answer. "
            "No response from Telnyx to our answer (ReadTimeout).",
        ),
        (
            "No response from Telnyx when dialing (ConnectError).",
            "The call was never placed. No response from Telnyx when dialing (ConnectError).",
        ),
        (
            "Telnyx refused the call: Telnyx error 10010: Invalid to.",
            "The call was never placed. Telnyx refused the call: Telnyx error 10010: Invalid to.",
        ),
        (
            "media stream failed: connection refused",
            "The caller was connected but no audio flowed (connection refused); we hung up.",
        ),
        ("agent server full", "Failed: agent server full"),
    ],
)
def test_a_failure_says_what_the_caller_experienced(reason, story):
    call = make_call()
    call.mark_failed(reason=reason)
    assert call.story == story


def test_a_live_call_has_no_story_yet():
    assert make_call().story == ""
