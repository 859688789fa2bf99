from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.media.codecs import (
    UnsupportedCodec,
    alaw_decode,
    alaw_encode,
    get_codec,
    l16_decode,
    l16_encode,
    to_int16,
    ulaw_decode,
    ulaw_encode,
)

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


def _audioop() -> ModuleType:
    # audioop is the reference implementation; it left the stdlib in 3.13.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("audioop")
        except ImportError:
            pytest.skip("audioop is not available on this Python")


@pytest.fixture(scope="module")
def audioop() -> ModuleType:
    return _audioop()


def test_ulaw_decode_matches_audioop_for_every_code(audioop):
    assert ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


def test_ulaw_encode_matches_audioop_for_every_sample(audioop):
    assert ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2)


def test_alaw_decode_matches_audioop_for_every_code(audioop):
    assert alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_alaw_encode_matches_audioop_for_every_sample(audioop):
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)


@pytest.mark.parametrize(
    ("decode", "encode"), [(ulaw_decode, ulaw_encode), (alaw_decode, alaw_encode)]
)
def test_g711_decode_then_encode_returns_every_code_unchanged(decode, encode):
    # μ-law has two zeros (0x7F and 0xFF); -0 decodes to 0 and re-encodes as +0.
    expected = bytearray(ALL_CODES)
    if encode is ulaw_encode:
        expected[0x7F] = 0xFF
    assert encode(decode(ALL_CODES)) == bytes(expected)


def test_decoders_return_int16_arrays_of_one_sample_per_byte():
    for decode in (ulaw_decode, alaw_decode):
        out = decode(b"\x00" * 160)
        assert out.dtype == np.int16
        assert out.shape == (160,)


def test_g711_encoders_map_zero_to_the_codec_silence_byte():
    assert ulaw_encode(np.zeros(3, dtype=np.int16)) == b"\xff\xff\xff"
    assert alaw_encode(np.zeros(3, dtype=np.int16)) == b"\xd5\xd5\xd5"


def test_empty_input_gives_empty_output():
    empty = np.zeros(0, dtype=np.int16)
    assert ulaw_encode(empty) == b""
    assert alaw_encode(empty) == b""
    assert l16_encode(empty) == b""
    assert ulaw_decode(b"").shape == (0,)
    assert l16_decode(b"").shape == (0,)


def test_l16_is_big_endian_by_default():
    samples = np.array([1, -2, 0x1234], dtype=np.int16)
    assert l16_encode(samples) == b"\x00\x01\xff\xfe\x12\x34"
    assert l16_decode(b"\x00\x01\xff\xfe\x12\x34").tolist() == [1, -2, 0x1234]


def test_l16_can_be_little_endian():
    samples = np.array([1, 0x1234], dtype=np.int16)
    assert l16_encode(samples, big_endian=False) == b"\x01\x00\x34\x12"
    assert l16_decode(b"\x01\x00\x34\x12", big_endian=False).tolist() == [1, 0x1234]


def test_l16_decode_returns_native_int16():
    out = l16_decode(b"\x00\x01")
    assert out.dtype == np.dtype(np.int16)
    assert out.dtype.isnative


def test_l16_decode_rejects_an_odd_number_of_bytes():
    with pytest.raises(ValueError, match="odd length"):
        l16_decode(b"\x00\x01\x02")


@given(st.binary(max_size=400).filter(lambda b: len(b) % 2 == 0), st.booleans())
def test_l16_round_trips_any_payload(payload, big_endian):
    samples = l16_decode(payload, big_endian=big_endian)
    assert l16_encode(samples, big_endian=big_endian) == payload


def test_encoders_clip_wider_integer_samples():
    wide = np.array([40000, -40000], dtype=np.int32)
    assert ulaw_encode(wide) == ulaw_encode(np.array([32767, -32768], dtype=np.int16))
    assert l16_encode(wide).hex() == "7fff8000"


def test_encoders_refuse_float_samples():
    with pytest.raises(TypeError, match="integer PCM"):
        ulaw_encode(np.zeros(4, dtype=np.float32))


def test_encoders_refuse_multichannel_arrays():
    with pytest.raises(ValueError, match="1-D"):
        to_int16(np.zeros((2, 4), dtype=np.int16))


def test_encoders_accept_non_contiguous_int16_views():
    samples = np.arange(0, 3200, 10, dtype=np.int16)[::2]
    assert ulaw_encode(samples) == ulaw_encode(samples.copy())


@pytest.mark.parametrize(
    ("encoding", "rate", "frame_bytes", "frame_samples", "silence_byte"),
    [
        ("PCMU", 8000, 160, 160, 0xFF),
        ("PCMA", 8000, 160, 160, 0xD5),
        ("L16", 16000, 640, 320, 0x00),
        ("L16", 8000, 320, 160, 0x00),
    ],
)
def test_get_codec_describes_a_20ms_frame(encoding, rate, frame_bytes, frame_samples, silence_byte):
    codec = get_codec(encoding, rate)
    assert codec.name == encoding
    assert codec.sample_rate == rate
    assert codec.frame_bytes == frame_bytes
    assert codec.frame_samples == frame_samples
    assert codec.silence_byte == silence_byte
    assert codec.silence(frame_samples) == bytes([silence_byte]) * frame_bytes


def test_get_codec_uses_the_telnyx_default_rate():
    assert get_codec("PCMU").sample_rate == 8000
    assert get_codec("PCMA").sample_rate == 8000
    assert get_codec("L16").sample_rate == 16000


def test_get_codec_upper_cases_the_encoding_name():
    assert get_codec("pcmu") == get_codec("PCMU")


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA", "L16"])
def test_codec_silence_decodes_to_near_zero(encoding):
    codec = get_codec(encoding)
    decoded = codec.decode(codec.silence(codec.frame_samples))
    assert decoded.shape == (codec.frame_samples,)
    assert np.abs(decoded).max() <= 8  # A-law has no exact zero: its silence is ±8


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA", "L16"])
def test_codec_encode_produces_one_frame_from_one_frame_of_samples(encoding):
    codec = get_codec(encoding)
    samples = (np.sin(np.arange(codec.frame_samples) / 5) * 10000).astype(np.int16)
    encoded = codec.encode(samples)
    assert len(encoded) == codec.frame_bytes
    assert np.abs(codec.decode(encoded).astype(int) - samples).max() < 400


def test_codec_l16_byte_order_is_configurable():
    samples = np.array([1], dtype=np.int16)
    assert get_codec("L16").encode(samples) == b"\x00\x01"
    assert get_codec("L16", l16_big_endian=False).encode(samples) == b"\x01\x00"
    assert get_codec("L16") != get_codec("L16", l16_big_endian=False)


def test_codec_is_immutable():
    codec = get_codec("PCMU")
    with pytest.raises(AttributeError):
        codec.sample_rate = 16000  # type: ignore[misc]


@pytest.mark.parametrize("encoding", ["G722", "OPUS", "AMR-WB", "SPEEX", ""])
def test_get_codec_rejects_encodings_we_cannot_handle(encoding):
    with pytest.raises(UnsupportedCodec, match="PCMU, PCMA, L16") as excinfo:
        get_codec(encoding)
    assert repr(encoding) in str(excinfo.value)


@pytest.mark.parametrize(("encoding", "rate"), [("PCMU", 16000), ("PCMA", 16000), ("L16", 24000)])
def test_get_codec_rejects_unsupported_sample_rates(encoding, rate):
    with pytest.raises(UnsupportedCodec, match=f"{encoding} at {rate} Hz"):
        get_codec(encoding, rate)


def test_unsupported_codec_is_a_value_error():
    assert issubclass(UnsupportedCodec, ValueError)
