from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from calls.models import Call
from telephony.media.recording import CallRecording, recover


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def tone(freq: float, n: int, rate: int) -> np.ndarray:
    return (8000 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


def channels(path: Path) -> tuple[int, np.ndarray, np.ndarray]:
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return rate, stereo[0::2].astype(float), stereo[1::2].astype(float)


def level_at(samples: np.ndarray, rate: int, freq: float) -> float:
    """The amplitude of `freq` in `samples` (a Hann-windowed FFT bin)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(spectrum[round(freq * len(samples) / rate)])


def record(caller_rate: int, sent_rate: int, sent: np.ndarray, tmp_path: Path) -> Path:
    """A second of call: silence from the caller, `sent` as 20 ms frames from us."""
    recording = CallRecording.open(
        Call(direction="inbound"), sample_rate=caller_rate, outbound_rate=sent_rate
    )
    sent_frame, caller_frame = sent_rate // 50, caller_rate // 50
    for start in range(0, len(sent), sent_frame):
        recording.write_outbound(sent[start : start + sent_frame])
        recording.write_inbound(np.zeros(caller_frame, dtype=np.int16))
    return Path(tmp_path) / recording.close()


def test_it_is_named_by_the_call_field_and_written_under_media_root(tmp_path):
    call = Call(direction="inbound")
    recording = CallRecording.open(call, sample_rate=8000, outbound_rate=8000)
    recording.write_inbound(np.ones(160, dtype=np.int16))
    name = recording.close()
    assert name == Call._meta.get_field("recording").generate_filename(call, f"{call.pk}.wav")
    assert re.fullmatch(rf"recordings/(\d+/)*{call.pk}\.wav", name)
    assert (tmp_path / name).stat().st_size == 44 + 160 * 4


def test_what_we_sent_at_the_callers_rate_is_recorded_as_it_is(tmp_path):
    sent = tone(440, 8000, 8000)
    rate, caller, ours = channels(record(8000, 8000, sent, tmp_path))
    assert rate == 8000
    assert not caller.any()
    assert ours.tolist() == sent.tolist()


def test_8khz_audio_we_sent_is_recorded_at_16khz_without_images(tmp_path):
    rate, _, ours = channels(record(16000, 8000, tone(1000, 8000, 8000), tmp_path))
    assert (rate, len(ours)) == (16000, 16000)
    steady = ours[800:-800]  # leave out the filter's start and end
    # Repeating each sample would mirror the tone around 8 kHz, at 7 kHz, about 10 dB down.
    assert level_at(steady, rate, 7000) < level_at(steady, rate, 1000) / 1000  # -60 dB


def test_16khz_audio_we_sent_is_recorded_at_8khz_without_aliasing(tmp_path):
    # 6 kHz cannot exist at 8 kHz; dropping every other sample would fold it to 2 kHz.
    rate, _, ours = channels(record(8000, 16000, tone(6000, 16000, 16000), tmp_path))
    assert (rate, len(ours)) == (8000, 8000)
    assert np.sqrt(np.mean(ours[400:-400] ** 2)) < 8000 / 100  # -40 dB


# A worker killed mid-call (issue 13) ------------------------------------------------------


def killed_mid_call(call: Call) -> Path:
    """What a killed worker leaves: a linked recording whose last chunk outran its header."""
    recording = CallRecording.open(call, sample_rate=8000, outbound_rate=8000)
    recording.link(call.pk)
    recording._wav.write_inbound(tone(440, 4000, 8000))  # flushed, sizes written
    recording._wav._file.write(b"\x01\x00" * 2 * 1000)  # a chunk, its sizes never written
    recording._wav._file.flush()
    return Path(recording._wav.path)


def frames_in(path: Path) -> int:
    with wave.open(str(path)) as wav:
        return wav.getnframes()


@pytest.mark.django_db(transaction=True)
async def test_reconciling_a_call_whose_worker_died_finishes_its_recordings_header(
    fake_telnyx,
):
    from telephony.reconcile import reconcile_call

    telnyx = fake_telnyx()
    telnyx.responses["/calls/v3:dead"] = [(200, {"data": {"is_alive": False}}, {})]
    call = await Call.objects.acreate(
        direction="inbound", status="streaming", call_control_id="v3:dead"
    )
    path = await sync_to_async(killed_mid_call)(call)
    assert frames_in(path) == 4000
    stale = await Call.objects.aget(pk=call.pk)  # as reconciliation reads it
    assert stale.recording.name
    await reconcile_call(stale)
    assert frames_in(path) == 5000


@pytest.mark.django_db
def test_recover_says_why_it_cannot_and_never_raises(caplog):
    call = Call.objects.create(direction="inbound", status="ended")
    assert recover(call) is False  # nothing recorded
    call.recording.name = "recordings/missing.wav"
    assert recover(call) is False
    assert "missing" in caplog.text
