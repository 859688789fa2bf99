"""The recording's waveform: peaks computed from real WAV files (ours, being written, cut
short, or not WAVs at all), cached, served as JSON under the recording's own permission; and
the regions drawn over it and the seek positions of transcript lines and timeline rows."""

from __future__ import annotations

import io
import itertools
import os
import wave
from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from calls import waveform
from calls.models import Call, CallEvent
from calls.regions import barge_ins, dtmf_regions, speech_regions
from calls.waveform import WaveformError, read_peaks
from telephony.media.wav import WavRecorder
from tests.calls.conftest import T0, finished_call, make_call, staff, transcription, webhook_event

pytestmark = pytest.mark.django_db

RATE = 8000


def stereo(seconds: float) -> np.ndarray:
    """Caller: a 1 s tone burst in the middle; agent: a ramp, so every bucket differs."""
    frames = int(RATE * seconds)
    left = np.zeros(frames)
    left[RATE : 2 * RATE] = 12000 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)
    right = (np.arange(frames) % 4000) * 8 - 16000
    return np.column_stack([left, right]).astype("<i2")


def wav_bytes(frames: np.ndarray, channels: int = 2, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(RATE)
        w.writeframes(frames.tobytes())
    return out.getvalue()


def expected(frames: np.ndarray, buckets: int) -> list[tuple[list[float], list[float]]]:
    edges = np.linspace(0, len(frames), buckets + 1).astype(int)
    found = []
    for channel in range(frames.shape[1]):
        parts = [frames[a:b, channel] for a, b in itertools.pairwise(edges)]
        found.append(([p.min() / 32768 for p in parts], [p.max() / 32768 for p in parts]))
    return found


@pytest.fixture
def recorded(settings, tmp_path):
    """A call whose recording is a 3 s stereo WAV under a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path)
    cache.clear()
    path = tmp_path / "recordings" / "call.wav"
    path.parent.mkdir()
    path.write_bytes(wav_bytes(stereo(3.0)))
    return make_call(recording="recordings/call.wav")


def peaks_url(call: Call) -> str:
    return reverse("admin:calls_call_peaks", args=[call.pk])


class TestPeaks:
    @pytest.mark.parametrize("block", [97, 1000, 1 << 18])
    def test_each_bucket_holds_the_lowest_and_highest_sample_of_its_slice(self, monkeypatch, block):
        # Blocks that end mid-bucket must merge both halves of the bucket.
        monkeypatch.setattr(waveform, "_BLOCK_FRAMES", block)
        frames = stereo(3.0)
        peaks = read_peaks(io.BytesIO(wav_bytes(frames)), buckets=300)
        assert peaks["duration_s"] == 3.0
        assert peaks["buckets"] == 300
        for channel, (lows, highs) in zip(peaks["channels"], expected(frames, 300), strict=True):
            assert channel["min"] == pytest.approx(lows, abs=0.001)
            assert channel["max"] == pytest.approx(highs, abs=0.001)

    def test_the_caller_is_the_left_channel_and_the_agent_the_right(self):
        peaks = read_peaks(io.BytesIO(wav_bytes(stereo(3.0))), buckets=3)
        caller, agent = peaks["channels"]
        assert caller["max"] == [0.0, pytest.approx(0.366, abs=0.001), 0.0]  # the burst
        assert min(agent["min"]) == pytest.approx(-16000 / 32768, abs=0.001)

    def test_a_recording_shorter_than_the_buckets_gets_one_bucket_per_frame(self):
        peaks = read_peaks(io.BytesIO(wav_bytes(stereo(3.0)[:80])), buckets=1600)
        assert peaks["buckets"] == 80

    def test_a_mono_file_draws_one_channel(self):
        mono = (np.arange(800) * 10).astype("<i2")
        peaks = read_peaks(io.BytesIO(wav_bytes(mono, channels=1)), buckets=4)
        assert len(peaks["channels"]) == 1

    def test_a_recording_being_written_shows_what_has_been_flushed(self, tmp_path):
        recorder = WavRecorder(tmp_path / "live.wav", RATE, flush_every_ms=100)
        recorder.write_inbound(np.full(RATE, 9000, dtype=np.int16))  # flushed: 1 s
        recorder.write_inbound(np.full(400, 9000, dtype=np.int16))  # not yet flushed
        with (tmp_path / "live.wav").open("rb") as file:
            peaks = read_peaks(file, buckets=10)
        recorder.close()
        assert peaks["duration_s"] == 1.0
        assert not peaks["truncated"]
        assert peaks["channels"][0]["max"] == [pytest.approx(9000 / 32768, abs=0.001)] * 10

    def test_a_file_cut_short_shows_what_it_holds_and_says_so(self):
        whole = wav_bytes(stereo(3.0))
        cut = whole[: 44 + RATE * 4 + 3]  # one second and a torn frame
        peaks = read_peaks(io.BytesIO(cut), buckets=10)
        assert peaks["truncated"]
        assert peaks["duration_s"] == 1.0

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "not a WAV file"),
            (b"ID3\x03\x00 an mp3, say" * 10, "not a WAV file"),
            (b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "format chunk is cut short"),
            (b"RIFF\x00\x00\x00\x00WAVE", "no audio data chunk"),
        ],
    )
    def test_a_file_that_is_not_a_readable_wav_says_why(self, content, message):
        with pytest.raises(WaveformError, match=message):
            read_peaks(io.BytesIO(content))

    def test_a_wav_of_another_sample_format_is_refused_with_its_format(self):
        eight_bit = wav_bytes(np.zeros((100, 2), dtype=np.uint8), width=1)
        with pytest.raises(WaveformError, match="8-bit, 2 channels"):
            read_peaks(io.BytesIO(eight_bit))

    def test_a_recording_with_no_audio_yet_says_so(self):
        with pytest.raises(WaveformError, match="no audio yet"):
            read_peaks(io.BytesIO(wav_bytes(np.zeros((0, 2), dtype="<i2"))))


class TestPeaksView:
    def test_staff_who_may_view_calls_get_the_peaks_as_json(self, viewer_client, recorded):
        response = viewer_client.get(peaks_url(recorded))
        assert response.status_code == 200
        body = response.json()
        assert body["duration_s"] == 3.0
        assert [c["name"] for c in body["channels"]] == ["Caller", "Agent"]
        assert len(body["channels"][0]["min"]) == waveform.BUCKETS

    def test_an_outbound_calls_far_end_is_the_callee(self, viewer_client, recorded):
        Call.objects.filter(pk=recorded.pk).update(direction=Call.Direction.OUTBOUND)
        body = viewer_client.get(peaks_url(recorded)).json()
        assert [c["name"] for c in body["channels"]] == ["Callee", "Agent"]

    def test_the_file_is_read_once_until_it_changes(self, viewer_client, recorded, monkeypatch):
        reads = []
        real = waveform.read_peaks
        monkeypatch.setattr(
            waveform, "read_peaks", lambda f, **kw: reads.append(1) or real(f, **kw)
        )
        viewer_client.get(peaks_url(recorded))
        viewer_client.get(peaks_url(recorded))
        assert len(reads) == 1
        path = recorded.recording.path
        with open(path, "ab") as file:  # the recording grew: new peaks
            file.write(b"\x00" * 400)
        os.utime(path, (1e9, 1e9))
        viewer_client.get(peaks_url(recorded))
        assert len(reads) == 2

    def test_visitors_and_staff_without_the_view_permission_get_a_404(self, recorded):
        anonymous = Client()
        assert anonymous.get(peaks_url(recorded)).status_code == 404
        nobody = Client()
        nobody.force_login(staff("nobody"))
        assert nobody.get(peaks_url(recorded)).status_code == 404

    def test_a_call_without_a_recording_answers_404_with_a_sentence(self, viewer_client):
        response = viewer_client.get(peaks_url(make_call()))
        assert response.status_code == 404
        assert response.json() == {"error": "This call has no recording."}

    def test_a_missing_file_answers_with_a_sentence(self, viewer_client, settings, tmp_path):
        settings.MEDIA_ROOT = str(tmp_path)
        response = viewer_client.get(peaks_url(make_call(recording="recordings/gone.wav")))
        assert response.status_code == 422
        assert response.json() == {"error": "The recording file is missing."}

    def test_a_corrupt_file_answers_with_a_sentence_not_a_500(self, viewer_client, recorded):
        with open(recorded.recording.path, "wb") as file:
            file.write(b"this is not audio")
        response = viewer_client.get(peaks_url(recorded))
        assert response.status_code == 422
        assert "not a WAV file" in response.json()["error"]


# Regions and seeking.

TURNS = {
    "recording_from_ms": 500,
    "turns": [
        {"at_ms": 2500, "latency_ms": 500, "caller_ms": 1000, "agent_ms": 1500,
         "agent_interrupted": False, "barged_in": True, "caller_from_ms": 1000,
         "caller_to_ms": 2000, "agent_to_ms": 3800, "barged_in_at_ms": 3800},
    ],
}  # fmt: skip


def test_speech_regions_are_placed_in_the_recording_from_the_stored_spans():
    caller, agent = speech_regions(TURNS)
    assert (caller.kind, caller.lane, caller.start_s, caller.end_s) == (
        "caller",
        "caller",
        0.5,
        1.5,
    )
    assert (agent.kind, agent.start_s, agent.end_s) == ("agent", 2.0, 3.3)
    assert "answered after 500 ms" in agent.label
    (barge,) = barge_ins(TURNS)
    assert (barge.start_s, barge.end_s) == (3.3, None)


def test_a_summary_stored_before_the_spans_still_places_each_turn():
    old = {"turns": [{"at_ms": 2500, "latency_ms": 500, "caller_ms": 1000, "agent_ms": 1500,
                      "agent_interrupted": False, "barged_in": True}]}  # fmt: skip
    caller, agent = speech_regions(old)
    assert (caller.start_s, caller.end_s) == (1.0, 2.0)
    assert (agent.start_s, agent.end_s) == (2.5, 4.0)
    assert [b.start_s for b in barge_ins(old)] == [4.0]  # the agent's audio stopped then


@pytest.mark.parametrize(
    "conversation",
    [None, "x", {"turns": "x"}, {"turns": [None, 3, {"at_ms": "soon"}]},
     {"recording_from_ms": True, "turns": [{"at_ms": float("nan"), "agent_ms": 10}]}],
)  # fmt: skip
def test_odd_stored_summaries_give_no_regions_and_no_error(conversation):
    assert speech_regions(conversation) == []
    assert barge_ins(conversation) == []


def test_dtmf_comes_from_our_media_events_when_the_stream_saw_the_presses(recorded):
    start = T0 + timedelta(seconds=2)
    webhook_event(recorded, "call.dtmf.received", T0 + timedelta(seconds=5), digit="5")
    assert [r.label for r in dtmf_regions(recorded.events.all(), start)] == ["DTMF 5"]
    CallEvent.objects.create(
        call=recorded, event_id="media:1", source=CallEvent.Source.MEDIA, type="media.dtmf",
        occurred_at=T0 + timedelta(seconds=5, milliseconds=40), payload={"digit": "5"},
    )  # fmt: skip
    (press,) = dtmf_regions(recorded.events.all(), start)
    assert press.start_s == 3.04


def detail_html(client: Client, call: Call) -> str:
    response = client.get(reverse("admin:calls_call_change", args=[call.pk]))
    assert response.status_code == 200
    return response.content.decode()


def media_start(call: Call, seconds: float) -> None:
    CallEvent.objects.create(
        call=call, event_id=f"media:{call.pk}", source=CallEvent.Source.MEDIA, type="media.start",
        occurred_at=T0 + timedelta(seconds=seconds), payload={"stream_id": "s"},
    )  # fmt: skip


def test_transcript_lines_and_timeline_rows_carry_their_place_in_the_recording(
    viewer_client, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    call = finished_call(recording="recordings/call.wav")
    media_start(call, 1.5)
    html = detail_html(viewer_client, call)
    transcript = html[html.index('id="transcript"') : html.index("</ol>")]
    # The agent's line came at +2 s, the caller's at +4 s: 0.5 s and 2.5 s into the audio.
    assert 'data-seek="0.500"' in transcript
    assert 'data-seek="2.500"' in transcript
    timeline = html[html.index('id="timeline"') :]
    dtmf_row = timeline[timeline.rindex("<tr", 0, timeline.index("call.dtmf.received")) :]
    assert dtmf_row.startswith('<tr class="pb-kind-dtmf" data-seek="3.500"')
    initiated = timeline[timeline.rindex("<tr", 0, timeline.index("call.initiated")) :]
    assert "data-seek" not in initiated.split(">")[0]  # before the recording began
    assert 'id="waveform"' in html
    assert reverse("admin:calls_call_peaks", args=[call.pk]) in html


def test_a_transcript_line_seeks_to_the_start_of_the_speech_it_transcribes(
    viewer_client, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    call = finished_call(recording="recordings/call.wav", conversation=TURNS)
    media_start(call, 1.5)
    html = detail_html(viewer_client, call)
    transcript = html[html.index('id="transcript"') : html.index("</ol>")]
    # The caller's final line came at 2.5 s; their speech began at 0.5 s.
    assert 'data-seek="0.500" title="Play the recording from here"><span class="pb-who">Caller' in (
        transcript
    )


def test_a_call_without_a_recording_has_no_waveform_and_nothing_to_seek(viewer_client):
    html = detail_html(viewer_client, finished_call())
    assert 'id="waveform"' not in html
    assert "data-seek" not in html


def test_in_an_outbound_calls_transcript_the_far_end_is_the_callee(viewer_client):
    call = make_call(direction=Call.Direction.OUTBOUND)
    transcription(call, T0 + timedelta(seconds=2), "Hello?", "inbound")
    transcription(call, T0 + timedelta(seconds=3), "Hi, this is the clinic.", "outbound")
    html = detail_html(viewer_client, call)
    transcript = html[html.index('id="transcript"') : html.index("</ol>")]
    assert '<span class="pb-who">Callee</span>' in transcript
    assert '<span class="pb-who">Caller</span>' not in transcript
    assert '<span class="pb-who">Agent</span>' in transcript
