"""The Stream bridge over a fake `rtc.join` that runs the SDK's own track, forwarder and
PcmData code; REST through the real SDK; the agent server over real HTTP."""

from __future__ import annotations

import asyncio

import getstream_rtc
import numpy as np
import pytest

from calls.models import Call, CallEvent
from telephony import tasks
from telephony.bridges import CallInfo, MediaFormat, create_bridge, preparation
from telephony.bridges.stream import StreamBridge
from tests.telephony.bridges.conftest import new_call
from tests.telephony.bridges.fakes import (
    SDK_FILLS_MISSING,
    RecordingSink,
    RemoteVoice,
    eventually,
    level_at,
    snr_db,
    tone,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings(SDK_FILLS_MISSING),
]


def call_info(call: Call) -> CallInfo:
    return CallInfo(
        call_id=call.pk,
        direction=call.direction,
        from_number=call.from_number,
        to_number=call.to_number,
        call_control_id=call.call_control_id or "",
        stream_call_id=call.stream_call_id,
        custom_data=call.custom_data,
    )


async def start_bridge(call: Call, join, *, prepare: bool = True):
    if prepare:
        await preparation.prepare(call_id=call.pk)
    bridge, sink = StreamBridge(join=join), RecordingSink()
    await bridge.start(call=call_info(call), media_format=MediaFormat("PCMU", 8000), sink=sink)
    return bridge, sink


async def stop(bridge: StreamBridge) -> None:
    await bridge.close("test over")
    await tasks.drain()


@pytest.fixture
async def joined(fake_stream, agent_server, fake_join):
    """A prepared call whose bridge joined the (fake) SFU: (call, bridge, sink, connection)."""
    call = await new_call()
    bridge, sink = await start_bridge(call, fake_join)
    connection = await fake_join.connection()
    yield call, bridge, sink, connection
    await stop(bridge)


def test_the_stream_kind_builds_a_stream_bridge():
    assert isinstance(create_bridge("stream"), StreamBridge)


async def test_it_joins_as_the_phone_user_with_an_audio_only_subscription(joined):
    from getstream.video.rtc.pb.stream.video.sfu.models.models_pb2 import TRACK_TYPE_AUDIO

    call, bridge, _, connection = joined
    assert connection.user_id == f"phone-{call.pk}"
    assert (connection.call.call_type, connection.call.id) == ("default", str(call.pk))
    assert connection.subscription_config.default.track_types == [TRACK_TYPE_AUDIO]
    track = connection.published_track
    assert (track.sample_rate, track.audio_buffer_size_ms) == (8000, 40)
    await eventually(lambda: "join_ms" in bridge.describe())
    await call.arefresh_from_db()
    assert call.bridge_status == "joined"
    assert call.bridge_join_ms is not None


async def test_the_callers_audio_reaches_the_sdk_untouched_at_the_calls_rate(joined):
    _, bridge, _, connection = joined
    caller = np.random.default_rng(5).integers(-8000, 8000, 4000).astype(np.int16)
    for start in range(0, len(caller), 160):  # in real time, as Telnyx sends it
        bridge.feed_caller_audio(caller[start : start + 160])
        await asyncio.sleep(0.02)
    await eventually(lambda: len(connection.published.frames) == 25)
    assert {(len(s), rate, ch) for s, rate, ch in connection.published.frames} == {(160, 8000, 1)}
    assert np.array_equal(connection.published.pcm(), caller)
    assert bridge.describe()["uplink_frames"] == 25


async def test_the_agents_voice_reaches_the_phone_at_the_phone_rate_at_full_quality(joined):
    _, bridge, sink, connection = joined
    connection.remote_audio(tone(1000, 1.0, 48000), "ai-agent")
    await eventually(lambda: sink.utterance_ends == 1)

    assert {rate for _, rate in sink.audio} == {8000}
    heard = sink.pcm()
    assert 8000 <= len(heard) <= 8100  # a second of audio, plus the resampler's short tail
    assert snr_db(heard[400:7600], 1000, 8000) > 80
    assert sink.interrupts == 0
    assert bridge.describe()["downlink_events"] == 50


@pytest.mark.parametrize("packet_ms", [10, 40, 60])
async def test_packets_of_any_duration_come_through_whole(joined, packet_ms):
    _, _, sink, connection = joined
    connection.remote_audio(tone(1000, 1.2, 48000), "ai-agent", packet_ms=packet_ms)
    await eventually(lambda: sink.utterance_ends == 1)
    heard = sink.pcm()
    assert 9600 <= len(heard) <= 9700
    assert snr_db(heard[400:9200], 1000, 8000) > 80


async def test_two_people_talking_at_once_are_mixed_not_queued(joined):
    _, bridge, sink, connection = joined
    agent, supervisor = tone(500, 1.0, 48000, 6000), tone(1300, 1.0, 48000, 3000)
    for start in range(0, 48000, 960):  # their packets interleave, as two tracks' would
        connection.remote_audio(agent[start : start + 960], "ai-agent")
        connection.remote_audio(supervisor[start : start + 960], "supervisor")
    await eventually(lambda: sink.utterance_ends == 1)

    heard = sink.pcm()
    assert 8000 <= len(heard) <= 8300  # one second of both, not two seconds one after the other
    steady = heard[800:7200]
    assert level_at(steady, 500, 8000) == pytest.approx(6000, rel=0.02)
    assert level_at(steady, 1300, 8000) == pytest.approx(3000, rel=0.05)
    figures = bridge.describe()
    assert (figures["remote_streams"], figures["mixed_slots"] > 40) == (2, True)


async def test_dtmf_becomes_a_custom_event_on_the_stream_call(joined, fake_stream):
    call, bridge, _, _ = joined
    await bridge.dtmf("5")
    await bridge.dtmf("#")
    await eventually(lambda: len(fake_stream.bodies("/event")) == 2)
    assert fake_stream.bodies(f"/call/default/{call.pk}/event") == [
        {"user_id": f"phone-{call.pk}", "custom": {"type": "dtmf", "digit": "5"}},
        {"user_id": f"phone-{call.pk}", "custom": {"type": "dtmf", "digit": "#"}},
    ]


async def test_the_stream_call_ending_hangs_up_the_phone_once(joined):
    _, _, sink, connection = joined
    connection.ends()
    connection.ends()
    assert sink.hang_ups == ["the Stream call ended"]


async def test_without_an_agent_server_the_agent_leaving_hangs_up_the_phone(fake_stream, fake_join):
    call = await new_call()
    bridge, sink = await start_bridge(call, fake_join)
    connection = await fake_join.connection()
    bridge.presence.agent_gone_grace = 0.0
    connection.joins("ai-agent", "s1")
    connection.leaves("ai-agent", "s1")
    await eventually(lambda: sink.hang_ups)
    assert sink.hang_ups == ["the agent left the Stream call"]
    await stop(bridge)


async def apologised(call: Call, telnyx, reason: str) -> None:
    """The caller heard the apology, and the call was recorded as failed for `reason`."""
    await eventually(lambda: telnyx.bodies("/actions/speak"))
    await tasks.drain()
    await call.arefresh_from_db()
    assert (call.status, call.failure_reason, call.bridge_status) == ("failed", reason, "failed")


async def test_a_summoned_agent_that_never_joins_gets_the_caller_an_apology(
    fake_stream, agent_server, fake_join, fake_telnyx, settings
):
    telnyx = fake_telnyx()
    settings.AGENT_ARRIVAL_TIMEOUT = 0.3
    call = await new_call()
    bridge, sink = await start_bridge(call, fake_join)  # the agent server said 201...
    connection = await fake_join.connection()
    connection.joins("supervisor", "s1")  # ...but only someone else came

    await apologised(call, telnyx, "the agent did not join the Stream call within 0.3 s")
    [speak] = telnyx.bodies("/actions/speak")
    assert speak["payload"] == settings.APOLOGY_TEXT
    assert connection.leave_calls == 1
    assert agent_server.calls("DELETE") == [(f"/calls/{call.pk}/sessions/agent-session-1", {})]
    connection.ends()  # the Stream call ends as we leave: the apology still does the hang-up
    assert sink.hang_ups == []
    await stop(bridge)


async def test_an_agent_that_joins_within_the_deadline_keeps_the_call(
    fake_stream, agent_server, fake_join, fake_telnyx, settings
):
    telnyx = fake_telnyx()
    settings.AGENT_ARRIVAL_TIMEOUT = 0.3
    call = await new_call()
    bridge, sink = await start_bridge(call, fake_join)
    connection = await fake_join.connection()
    await asyncio.sleep(0.15)
    connection.joins("ai-agent", "agent-1")  # the background join lands, late but in time
    await asyncio.sleep(0.4)
    assert telnyx.bodies("/actions/speak") == []
    assert (await preparation.stored(call.pk)).status == "joined"
    assert sink.hang_ups == []
    await stop(bridge)


async def test_a_summoned_agent_that_leaves_for_good_gets_the_caller_an_apology(
    fake_stream, agent_server, fake_join, fake_telnyx
):
    telnyx = fake_telnyx()
    call = await new_call()
    bridge, sink = await start_bridge(call, fake_join)
    connection = await fake_join.connection()
    bridge.presence.agent_gone_grace = 0.05
    connection.joins("ai-agent", "agent-1")
    connection.leaves("ai-agent", "agent-1")

    await apologised(call, telnyx, "the agent left the Stream call")
    assert len(agent_server.calls("DELETE")) == 1
    assert sink.hang_ups == []
    await stop(bridge)


async def test_an_agent_that_rejoins_at_once_keeps_the_call(joined):
    _, bridge, sink, connection = joined
    bridge.presence.agent_gone_grace = 0.2
    connection.joins("ai-agent", "s1")
    connection.leaves("ai-agent", "s1")
    connection.joins("ai-agent", "s2")  # its session migrated
    await asyncio.sleep(0.3)
    assert sink.hang_ups == []


async def test_an_empty_call_hangs_up_the_phone_after_a_while(joined):
    _, bridge, sink, connection = joined
    bridge.presence.empty_call_grace = 0.05
    connection.joins("supervisor", "s1")
    connection.leaves("supervisor", "s1")
    await eventually(lambda: sink.hang_ups)
    assert sink.hang_ups == ["everyone else left the Stream call"]


async def test_someone_other_than_the_agent_user_joining_is_recorded_and_warned_once(
    joined, caplog
):
    call, _, _, connection = joined
    with caplog.at_level("WARNING", logger="telephony.bridges.stream"):
        connection.joins("agent", "s1")  # Vision Agents' examples also use "agent"
        connection.joins("agent", "s2")
        connection.joins("ai-agent", "s3")
        await tasks.drain()

    joined_events = CallEvent.objects.filter(call=call, type="bridge.participant_joined")
    assert [e.payload async for e in joined_events.order_by("id")] == [
        {"user_id": "agent", "session_id": "s1"},
        {"user_id": "agent", "session_id": "s2"},
    ]
    [warning] = [r for r in caplog.records if r.name == "telephony.bridges.stream"]
    assert "STREAM_AGENT_USER_ID is 'ai-agent'" in warning.getMessage()
    assert "'agent' joined the Stream call" in warning.getMessage()


async def test_the_agents_interrupt_event_is_a_barge_in(joined):
    _, bridge, sink, connection = joined
    connection.custom({"type": "interrupt"})
    connection.custom({"type": "something else"})
    assert sink.interrupts == 1
    assert bridge.describe()["interrupts"] == 1


async def test_the_agent_falling_silent_while_the_caller_talks_is_a_barge_in(joined):
    _, bridge, sink, connection = joined
    agent, caller = tone(1000, 0.3, 48000), tone(300, 0.6, 8000, 10000)
    for packet in range(30):  # in real time: the caller talks over the agent from 100 ms on
        if packet < 15:
            connection.remote_audio(agent[packet * 960 : (packet + 1) * 960], "ai-agent")
        quiet = np.zeros(160, dtype=np.int16)
        bridge.feed_caller_audio(
            caller[packet * 160 : (packet + 1) * 160] if packet >= 5 else quiet
        )
        await asyncio.sleep(0.02)
    await eventually(lambda: sink.interrupts or sink.utterance_ends)
    assert (sink.interrupts, sink.utterance_ends) == (1, 0)
    assert bridge.describe()["barge_ins"] == 1


PAUSE_STYLES = pytest.mark.parametrize("dtx", [False, True], ids=["silence-packets", "dtx"])


@PAUSE_STYLES
async def test_an_utterance_ends_within_250_ms_of_the_agent_falling_silent(joined, dtx):
    _, _, sink, connection = joined
    voice = RemoteVoice(connection, "ai-agent", "agent-1", dtx=dtx).start()
    for sentence, freq in enumerate((1000, 700)):
        voice.say(tone(freq, 0.5, 48000))
        await voice.done_saying()
        await eventually(lambda n=sentence: sink.utterance_ends > n)
        assert sink.at("end")[sentence] - voice.last_voiced_at <= 0.25
        await asyncio.sleep(0.8)  # a pause: silence packets, or comfort noise now and then
    await voice.stop()
    assert (sink.utterance_ends, sink.interrupts) == (2, 0)


async def talk_over(bridge: StreamBridge, *, start: float, stop: float, total: float) -> None:
    """The caller, in real time: quiet, talking from `start` to `stop` s, quiet again."""
    loop = asyncio.get_running_loop()
    speech, tick = tone(300, total, 8000, 10000), loop.time()
    for frame in range(round(total / 0.02)):
        talking = start <= frame * 0.02 < stop
        chunk = speech[frame * 160 : (frame + 1) * 160]
        bridge.feed_caller_audio(chunk if talking else np.zeros(160, dtype=np.int16))
        tick += 0.02
        await asyncio.sleep(max(0.0, tick - loop.time()))


@PAUSE_STYLES
async def test_a_barge_in_on_a_stock_agent_clears_within_250_ms_and_spares_its_next_sentence(
    joined, dtx
):
    _, bridge, sink, connection = joined
    voice = RemoteVoice(connection, "ai-agent", "agent-1", dtx=dtx).start()
    caller = asyncio.ensure_future(talk_over(bridge, start=0.2, stop=1.0, total=2.2))
    voice.say(tone(1000, 0.6, 48000))  # the caller talks over it from 0.2 s; it stops at 0.6 s
    await voice.done_saying()
    yielded_at = voice.last_voiced_at
    await asyncio.sleep(0.6)
    voice.say(tone(700, 0.4, 48000))  # its next sentence, after the interruption
    await voice.done_saying()
    await eventually(lambda: sink.utterance_ends)
    await caller
    await voice.stop()

    [cleared] = sink.at("interrupt")
    assert cleared - yielded_at <= 0.25
    after = sink.pcm_after("interrupt")
    assert sink.log[-1][0] == "end"
    assert len(after) >= 0.4 * 8000  # the whole next sentence was handed over after the clear
    assert level_at(after[400:3000], 700, 8000) == pytest.approx(8000, rel=0.05)
    assert level_at(after, 1000, 8000) < 100  # and nothing of the interrupted one
    assert (sink.interrupts, sink.utterance_ends, bridge.describe()["barge_ins"]) == (1, 1, 1)


async def test_the_caller_answering_the_agent_is_not_a_barge_in(joined):
    _, bridge, sink, connection = joined
    caller = tone(300, 0.2, 8000, 10000)
    for start in range(0, len(caller), 160):  # the caller's turn...
        bridge.feed_caller_audio(caller[start : start + 160])
        await asyncio.sleep(0.02)
    connection.remote_audio(tone(1000, 0.2, 48000), "ai-agent")  # ...and the agent's answer
    for _ in range(15):  # the line goes quiet
        bridge.feed_caller_audio(np.zeros(160, dtype=np.int16))
        await asyncio.sleep(0.02)
    await eventually(lambda: sink.interrupts or sink.utterance_ends)
    assert (sink.interrupts, sink.utterance_ends) == (0, 1)


@pytest.mark.parametrize("end_stream_call", [True, False])
async def test_the_caller_hanging_up_leaves_and_dismisses_the_agent(
    joined, fake_stream, agent_server, settings, end_stream_call
):
    settings.STREAM_END_CALL_ON_HANGUP = end_stream_call
    call, bridge, _, connection = joined
    await bridge.close("stopped by Telnyx")
    await bridge.close("stopped by Telnyx")
    await tasks.drain()

    assert connection.leave_calls == 1
    assert bridge.describe()["leave"] == "left"
    assert agent_server.calls("DELETE") == [(f"/calls/{call.pk}/sessions/agent-session-1", {})]
    assert len(fake_stream.bodies(f"/call/default/{call.pk}/mark_ended")) == int(end_stream_call)
    assert (await preparation.stored(call.pk)).status == "ended"


async def test_a_join_that_times_out_gets_the_caller_an_apology(
    fake_stream, agent_server, fake_join, fake_telnyx, settings
):
    telnyx = fake_telnyx()
    settings.STREAM_JOIN_TIMEOUT = 0.3
    fake_join.connect_hangs = True
    call = await new_call()
    bridge, sink = await start_bridge(call, fake_join)
    await eventually(lambda: telnyx.bodies("/actions/speak"))

    await tasks.drain()
    await call.arefresh_from_db()
    reason = "could not join the Stream call within 0.3 s"
    assert (call.status, call.failure_reason, call.bridge_status) == ("failed", reason, "failed")
    assert fake_join.connections[0].leave_calls == 1
    assert len(agent_server.calls("DELETE")) == 1  # the agent waiting in the call is dismissed
    await stop(bridge)
    assert fake_join.connections[0].leave_calls == 1
    assert sink.hang_ups == []  # the apology hangs up, after speaking


async def test_a_join_refused_by_stream_gets_the_caller_an_apology(
    fake_stream, agent_server, fake_join, fake_telnyx
):
    telnyx = fake_telnyx()
    fake_join.connect_error = getstream_rtc.CoordinatorError("credentials rejected")
    call = await new_call()
    bridge, _ = await start_bridge(call, fake_join)
    await eventually(lambda: telnyx.bodies("/actions/speak"))
    await stop(bridge)
    await call.arefresh_from_db()
    assert call.failure_reason == "could not join the Stream call: credentials rejected"
    assert fake_join.connections[0].leave_calls == 1


async def test_a_bridge_closed_while_joining_leaves_once_and_quietly(
    fake_stream, agent_server, fake_join, fake_telnyx
):
    telnyx = fake_telnyx()
    fake_join.connect_hangs = True
    call = await new_call()
    bridge, _ = await start_bridge(call, fake_join)
    await eventually(lambda: fake_join.connections)
    await stop(bridge)
    assert fake_join.connections[0].leave_calls == 1
    assert telnyx.bodies("/actions/speak") == []
    assert (await preparation.stored(call.pk)).status == "ended"


async def test_a_call_whose_preparation_failed_is_not_joined(
    fake_stream, agent_server, fake_join, fake_telnyx
):
    fake_telnyx()
    agent_server.mode = "full"
    call = await new_call()
    bridge, sink = await start_bridge(call, fake_join)
    await asyncio.sleep(0.2)
    await stop(bridge)
    assert fake_join.connections == []
    assert sink.hang_ups == []  # the preparation's apology ends the call


async def test_the_bridge_prepares_a_call_nobody_prepared(fake_stream, agent_server, fake_join):
    call = await new_call()
    bridge, _ = await start_bridge(call, fake_join, prepare=False)
    await fake_join.connection()
    await eventually(lambda: agent_server.sessions)
    await tasks.drain()
    stored = await preparation.stored(call.pk)
    assert (stored.status, stored.agent_session_id) == ("joined", "agent-session-1")
    await stop(bridge)
