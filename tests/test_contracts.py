"""Every implementation of a seam keeps its protocol: the fakes as well as the real ones."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import tiny_whisper, tone
from tests.fakes import FakeASR, FakeVAD
from voice.types import Audio, Segment, Transcript
from voice.vad import EnergyVAD, SileroVAD, SpeechRegion
from voice.whisper_asr import ASROptions, WhisperASR, WindowResult


def _asrs() -> list:
    yield pytest.param(lambda: FakeASR(), id="fake")
    yield pytest.param(
        lambda: WhisperASR(tiny_whisper(), ASROptions(max_new_tokens=6, temperatures=(0.0,))),
        id="whisper-tiny-random",
    )


def _vads() -> list:
    yield pytest.param(FakeVAD, id="fake")
    yield pytest.param(EnergyVAD, id="energy")
    yield pytest.param(SileroVAD.load, id="silero")


@pytest.mark.parametrize("make", list(_asrs()))
def test_asr_protocol(make):
    asr = make()
    assert isinstance(asr.name, str) and asr.name
    windows = [tone(2.0), tone(5.0, 330.0)]
    results = asr.decode_windows(windows, [0.0, 10.0])
    assert len(results) == 2 and all(isinstance(r, WindowResult) for r in results)
    for r, off in zip(results, (0.0, 10.0), strict=True):
        assert all(isinstance(s, Segment) and s.start_s >= off for s in r.segments)
    t = asr.assemble(results, 15.0)
    assert isinstance(t, Transcript) and t.duration_s == 15.0
    assert [s.start_s for s in t.segments] == sorted(s.start_s for s in t.segments)
    assert set(t.to_dict()) >= {"text", "language", "duration_s", "segments", "model"}


@pytest.mark.parametrize("make", list(_vads()))
def test_vad_protocol(make):
    vad = make()
    assert isinstance(vad.name, str)
    sr = 16000
    audio = Audio(np.concatenate([np.zeros(sr, np.float32), tone(1.5), np.zeros(sr, np.float32)]))
    regions = vad.speech(audio)
    assert all(isinstance(r, SpeechRegion) for r in regions)
    assert all(0.0 <= r.start_s < r.end_s <= audio.duration_s + 1e-6 for r in regions)
    assert [r.start_s for r in regions] == sorted(r.start_s for r in regions)
