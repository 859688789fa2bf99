from __future__ import annotations

import gc
import shutil
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

from telephony.media.wav import WavRecorder, repair

RATE = 8000


def ramp(n: int, start: int = 1) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray, np.ndarray]:
    """Return the parameters and the left and right channels of a WAV file."""
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        frames = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return params, frames[0::2], frames[1::2]


def test_it_writes_a_16_bit_stereo_wav_at_the_given_rate(tmp_path):
    path = tmp_path / "call.wav"
    with WavRecorder(path, 16000) as recorder:
        recorder.write_inbound(ramp(320))
    params, _, _ = read_wav(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 16000)
    assert params.nframes == 320


def test_it_puts_the_caller_left_and_what_we_sent_right(tmp_path):
    path = tmp_path / "call.wav"
    with WavRecorder(path, RATE) as recorder:
        recorder.write_outbound(ramp(160, start=-500))
        recorder.write_inbound(ramp(160, start=1000))
    _, left, right = read_wav(path)
    assert left.tolist() == ramp(160, start=1000).tolist()
    assert right.tolist() == ramp(160, start=-500).tolist()


def test_it_pads_the_outbound_channel_with_silence_when_we_sent_nothing(tmp_path):
    path = tmp_path / "call.wav"
    with WavRecorder(path, RATE) as recorder:
        recorder.write_outbound(ramp(100))
        recorder.write_inbound(ramp(160))
    _, left, right = read_wav(path)
    assert left.tolist() == ramp(160).tolist()
    assert right.tolist() == ramp(100).tolist() + [0] * 60


def test_it_spreads_queued_outbound_over_later_inbound_chunks(tmp_path):
    path = tmp_path / "call.wav"
    with WavRecorder(path, RATE) as recorder:
        recorder.write_outbound(ramp(250))
        recorder.write_inbound(ramp(160))
        recorder.write_outbound(ramp(50, start=900))
        recorder.write_inbound(ramp(160))
        recorder.write_inbound(ramp(160))
    _, left, right = read_wav(path)
    assert len(left) == 480  # the inbound timeline sets the length
    assert right.tolist() == ramp(250).tolist() + ramp(50, start=900).tolist() + [0] * 180


def test_close_writes_remaining_outbound_against_silence(tmp_path):
    path = tmp_path / "call.wav"
    recorder = WavRecorder(path, RATE)
    recorder.write_inbound(ramp(160))
    recorder.write_outbound(ramp(80, start=7))
    recorder.close()
    _, left, right = read_wav(path)
    assert left.tolist() == ramp(160).tolist() + [0] * 80
    assert right.tolist() == [0] * 160 + ramp(80, start=7).tolist()


def test_outbound_beyond_the_bound_is_written_against_silence(tmp_path):
    path = tmp_path / "call.wav"
    recorder = WavRecorder(path, RATE, max_outbound_ms=100)  # 800 samples
    recorder.write_outbound(ramp(1000))
    recorder.write_inbound(ramp(800, start=5000))
    recorder.close()
    _, left, right = read_wav(path)
    assert left.tolist() == [0] * 200 + ramp(800, start=5000).tolist()
    assert right.tolist() == ramp(1000).tolist()


def test_outbound_memory_stays_bounded_when_the_caller_goes_quiet(tmp_path):
    path = tmp_path / "call.wav"
    recorder = WavRecorder(path, RATE, max_outbound_ms=2000)
    for _ in range(500):  # 10 s sent, nothing received
        recorder.write_outbound(ramp(160))
    recorder.flush()
    params, left, right = read_wav(path)
    assert params.nframes == 8 * RATE  # all but the last 2 s, already against silence
    assert not left.any()
    assert right.tolist() == ramp(160).tolist() * 400
    recorder.close()


def test_audio_reaches_disk_in_chunks_of_about_half_a_second(tmp_path):
    path = tmp_path / "call.wav"
    recorder = WavRecorder(path, RATE)
    for _ in range(24):  # 480 ms: not yet a chunk
        recorder.write_inbound(ramp(160))
    assert path.stat().st_size == 44
    recorder.write_inbound(ramp(160))  # 500 ms
    assert path.stat().st_size == 44 + 4000 * 4
    recorder.close()


def test_an_abandoned_recording_is_a_valid_wav_of_everything_flushed(tmp_path):
    path = tmp_path / "call.wav"
    recorder = WavRecorder(path, RATE)
    for n in range(50):  # 1 s, flushed at 0.5 s and 1 s
        recorder.write_inbound(np.full(160, n, dtype=np.int16))
    recorder.write_inbound(ramp(160))  # 20 ms still in memory
    snapshot = tmp_path / "snapshot.wav"
    shutil.copyfile(path, snapshot)  # what a killed process leaves behind
    params, left, right = read_wav(snapshot)
    assert params.nframes == RATE
    assert left.tolist() == np.repeat(np.arange(50), 160).tolist()
    assert not right.any()
    recorder.close()


def test_a_recording_flushed_then_dropped_without_close_stays_valid(tmp_path):
    path = tmp_path / "call.wav"
    recorder = WavRecorder(path, RATE)
    recorder.write_outbound(ramp(100))
    recorder.write_inbound(ramp(300))
    recorder.flush()
    with warnings.catch_warnings():
        # Dropping an open file warns, which is the point: nobody called close().
        warnings.simplefilter("ignore", ResourceWarning)
        del recorder
        gc.collect()
    params, left, right = read_wav(path)
    assert params.nframes == 300
    assert left.tolist() == ramp(300).tolist()
    assert right.tolist() == ramp(100).tolist() + [0] * 200


def test_the_header_sizes_match_the_file_after_close(tmp_path):
    path = tmp_path / "call.wav"
    with WavRecorder(path, RATE) as recorder:
        recorder.write_inbound(ramp(1234))
    raw = path.read_bytes()
    assert int.from_bytes(raw[4:8], "little") == len(raw) - 8
    assert int.from_bytes(raw[40:44], "little") == len(raw) - 44 == 1234 * 4


def test_an_empty_recording_is_a_valid_wav(tmp_path):
    path = tmp_path / "call.wav"
    WavRecorder(path, RATE).close()
    params, _, _ = read_wav(path)
    assert params.nframes == 0


def test_the_file_holds_every_frame_written_either_side(tmp_path):
    path = tmp_path / "call.wav"
    recorder = WavRecorder(path, RATE)
    recorder.write_inbound(ramp(4000))
    recorder.write_inbound(ramp(80))
    recorder.write_outbound(ramp(400))
    recorder.close()
    params, _, _ = read_wav(path)
    assert params.nframes == 4480


def test_the_recorder_copies_outbound_samples_it_queues(tmp_path):
    path = tmp_path / "call.wav"
    buffer = ramp(160)
    with WavRecorder(path, RATE) as recorder:
        recorder.write_outbound(buffer)
        buffer[:] = 0  # a producer reusing its buffer
        recorder.write_inbound(ramp(160))
    _, _, right = read_wav(path)
    assert right.tolist() == ramp(160).tolist()


def test_writing_after_close_is_refused(tmp_path):
    recorder = WavRecorder(tmp_path / "call.wav", RATE)
    recorder.close()
    recorder.close()  # closing twice is harmless
    with pytest.raises(ValueError, match="closed"):
        recorder.write_inbound(ramp(10))


def test_float_samples_are_refused(tmp_path):
    with WavRecorder(tmp_path / "call.wav", RATE) as recorder, pytest.raises(TypeError):
        recorder.write_inbound(np.zeros(10, dtype=np.float32))


def test_it_exposes_its_path(tmp_path):
    with WavRecorder(str(tmp_path / "call.wav"), RATE) as recorder:
        assert recorder.path == tmp_path / "call.wav"


# Size cap and repair (issue 13) -----------------------------------------------------------


def test_a_recording_stops_at_its_cap_and_stays_a_valid_file(tmp_path):
    path = tmp_path / "call.wav"
    with WavRecorder(path, RATE, max_seconds=1) as recorder:
        for n in range(100):  # two seconds, each side
            recorder.write_outbound(ramp(160, start=n))
            recorder.write_inbound(ramp(160, start=n))
        assert recorder.capped
    params, left, _right = read_wav(path)
    assert params.nframes == RATE
    assert left[:160].tolist() == ramp(160, start=0).tolist()
    assert path.stat().st_size == 44 + RATE * 4


def test_without_a_cap_the_wav_formats_own_limit_still_holds(tmp_path):
    recorder = WavRecorder(tmp_path / "call.wav", 48000)
    assert recorder.max_frames * 4 + 36 <= 2**32 - 1
    recorder.close()


def kill_mid_write(path: Path, *, cut: int) -> bytes:
    """A file as a killed worker leaves it: chunks flushed, then data past the header's sizes
    (written, but the sizes never rewritten), the last sample frame `cut` bytes short."""
    recorder = WavRecorder(path, RATE)
    recorder.write_inbound(ramp(4000))  # one flush of half a second
    recorder._file.write(ramp(2 * 800).astype("<i2").tobytes()[: 4 * 800 - cut])
    recorder._file.flush()
    return path.read_bytes()


@pytest.mark.parametrize("cut", [0, 1, 3])
def test_repair_rewrites_the_sizes_from_the_files_length(tmp_path, cut):
    path = tmp_path / "call.wav"
    before = kill_mid_write(path, cut=cut)
    assert read_wav(path)[0].nframes == 4000  # the header undercounts what is there
    assert repair(path) is True
    params, left, _ = read_wav(path)
    whole = 800 if cut == 0 else 799
    assert params.nframes == 4000 + whole
    assert left[:4000].tolist() == ramp(4000).tolist()
    assert path.read_bytes()[44:] == before[44 : 44 + (4000 + whole) * 4]
    assert repair(path) is False  # a second time there is nothing to do


def test_repair_leaves_a_properly_closed_file_alone(tmp_path):
    path = tmp_path / "call.wav"
    with WavRecorder(path, RATE) as recorder:
        recorder.write_inbound(ramp(100))
    before = path.read_bytes()
    assert repair(path) is False
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"RIFF", b"x" * 100])
def test_repair_refuses_what_is_not_one_of_our_recordings(tmp_path, content):
    path = tmp_path / "call.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"short|canonical"):
        repair(path)
    assert path.read_bytes() == content
