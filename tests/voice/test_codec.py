"""G.711 mu-law and the resampling to and from 8 kHz phone audio."""

from __future__ import annotations

import numpy as np
import pytest

from voice.codec import (
    FRAME_BYTES,
    StreamResampler,
    from_phone_frames,
    mulaw_decode,
    mulaw_encode,
    resample,
    to_phone_frames,
)
from voice.types import Audio


def sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - test) ** 2)))


def test_mulaw_round_trip_of_a_tone_is_clean():
    x = sine(300, 1.0, 8000)
    assert snr_db(x, mulaw_decode(mulaw_encode(x))) > 35


def test_mulaw_codes_are_the_g711_ones():
    # silence, full scale, and the sign bit: the reference table's values
    assert mulaw_encode(np.array([0.0, 1.0, -1.0], np.float32)) == bytes([0xFF, 0x80, 0x00])
    assert np.allclose(mulaw_decode(bytes([0xFF, 0x7F])), 0.0)
    every_code = bytes(range(256))
    assert mulaw_encode(mulaw_decode(every_code)) == every_code.replace(b"\x7f", b"\xff")


def test_phone_frames_are_20_ms_and_round_trip():
    audio = Audio(sine(300, 1.01, 24_000), 24_000)
    frames = to_phone_frames(audio)
    assert all(len(f) == FRAME_BYTES for f in frames)
    assert len(frames) == 51  # 1.01 s at 8 kHz = 8080 bytes -> padded to 51 frames
    back = from_phone_frames(frames, 24_000)
    assert back.sample_rate == 24_000
    n = len(audio.samples)
    # the 300 Hz tone survives 24k -> 8k mu-law -> 24k (away from the edges)
    assert snr_db(audio.samples[2400 : n - 2400], back.samples[2400 : n - 2400]) > 25
    spectrum = np.abs(np.fft.rfft(back.samples[:24_000]))
    assert abs(np.argmax(spectrum) - 300) <= 1


@pytest.mark.parametrize(("src", "dst"), [(24_000, 8_000), (22_050, 16_000), (16_000, 48_000)])
def test_stream_resampler_matches_one_shot(src, dst):
    x = sine(440, 1.0, src)
    stream = StreamResampler(src, dst)
    pieces = [stream.process(c) for c in np.array_split(x, 7)] + [stream.flush()]
    joined = np.concatenate(pieces)
    whole = resample(x, src, dst)
    assert abs(len(joined) - len(whole)) <= 2
    n = min(len(joined), len(whole))
    assert np.max(np.abs(joined[:n] - whole[:n])) < 1e-3
