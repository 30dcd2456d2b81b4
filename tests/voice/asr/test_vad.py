"""Tests for voice.asr.vad: where the speech is, and how long audio is cut into Whisper windows."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest

from tests.conftest import requires_espeak, requires_ffmpeg, tone
from voice.asr.vad import (
    WHISPER_WINDOW_S,
    EnergyVAD,
    SileroVAD,
    SpeechRegion,
    VADOptions,
    available_vads,
    load_vad,
    plan_windows,
)
from voice.audio import load_audio
from voice.types import SAMPLE_RATE, Audio


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def pattern(*parts: float) -> tuple[Audio, list[tuple[float, float]]]:
    """Alternating silence and tone durations (silence first); returns audio and the tones' spans."""
    chunks, spans, t = [], [], 0.0
    for i, seconds in enumerate(parts):
        if i % 2:
            chunks.append(tone(seconds, 220.0 + 110 * (i // 2)))
            spans.append((t, t + seconds))
        else:
            chunks.append(silence(seconds))
        t += seconds
    return Audio(np.concatenate(chunks)), spans


def padded(spans, o: VADOptions, duration_s: float) -> list[tuple[float, float]]:
    return [(max(0.0, s - o.pad_s), min(duration_s, e + o.pad_s)) for s, e in spans]


def assert_regions(got: list[SpeechRegion], want: list[tuple[float, float]], tol: float = 0.1):
    assert len(got) == len(want), got
    for r, (s, e) in zip(got, want, strict=True):
        assert abs(r.start_s - s) <= tol and abs(r.end_s - e) <= tol, (got, want)


# (parts for pattern(): silence, tone, silence, ...), options, the expected spans before padding
ENERGY_CASES = [
    pytest.param((1, 1, 1, 1.5, 1), VADOptions(), [(1, 2), (3, 4.5)], id="two-tones"),
    pytest.param((3,), VADOptions(), [], id="silence"),
    pytest.param((1, 1, 1, 0.1, 1), VADOptions(), [(1, 2)], id="short-burst-dropped"),
    pytest.param((1, 1, 0.3, 1, 1), VADOptions(), [(1, 3.3)], id="short-pause-merged"),
    pytest.param(
        (1, 1, 0.3, 1, 1),
        VADOptions(min_silence_s=0.2, pad_s=0.0),
        [(1, 2), (2.3, 3.3)],
        id="pause-kept-with-shorter-min-silence",
    ),
    pytest.param((0, 1, 2, 1, 0), VADOptions(), [(0, 1), (3, 4)], id="speech-at-both-ends"),
]


@pytest.mark.parametrize("parts,options,spans", ENERGY_CASES)
def test_energy_vad_patterns(parts, options, spans):
    audio, _ = pattern(*parts)
    got = EnergyVAD(options).speech(audio)
    assert_regions(got, padded(spans, options, audio.duration_s))
    assert all(0 <= r.start_s < r.end_s <= audio.duration_s for r in got)


def test_energy_vad_ignores_a_steady_noise_floor():
    audio, _ = pattern(1, 1, 1, 1.5, 1)
    noise = np.random.default_rng(0).normal(0, 0.01, len(audio.samples)).astype(np.float32)
    got = EnergyVAD().speech(Audio(audio.samples + noise))  # noise at -40 dBFS everywhere
    assert_regions(got, padded([(1, 2), (3, 4.5)], VADOptions(), audio.duration_s))


@pytest.mark.parametrize("parts", [(0, 5), (0, 4.7, 0.3)], ids=["all-speech", "94%-speech"])
def test_energy_vad_finds_speech_that_fills_the_file(parts):
    audio, tones = pattern(*parts)
    assert_regions(EnergyVAD().speech(audio), padded(tones, VADOptions(), audio.duration_s))


def test_load_vad():
    assert available_vads() == ["silero", "energy"]
    options = VADOptions(min_speech_s=0.1)
    vad = load_vad("energy", options)
    assert isinstance(vad, EnergyVAD) and vad.options == options
    with pytest.raises(
        ValueError, match=r"'nope' not found; available VADs = \['silero', 'energy'\]"
    ):
        load_vad("nope")


def _check_windows(regions, duration_s, windows, max_s=WHISPER_WINDOW_S):
    eps = 1e-9
    for s, e in windows:
        assert 0 <= s < e <= duration_s + eps
        assert e - s <= max_s + eps
    for (_, e1), (s2, _) in pairwise(windows):
        assert e1 <= s2 + eps  # sorted, no overlap
    long = [(r.start_s, r.end_s) for r in regions if r.end_s - r.start_s > max_s]

    def cut(ws, we):  # a window made by cutting a region longer than a window
        return any(s < we and ws < e for s, e in long)

    for (s1, e1), (s2, e2) in pairwise(windows):
        if not (cut(s1, e1) or cut(s2, e2)):
            assert e2 - s1 > max_s - eps  # greedy: two neighbours would not fit in one window
    spans = [(r.start_s, min(r.end_s, duration_s)) for r in regions if r.start_s < duration_s]
    for s, e in spans:  # every bit of speech is inside a window
        covered = sum(max(0.0, min(e, we) - max(s, ws)) for ws, we in windows)
        assert covered == pytest.approx(e - s, abs=1e-6), (s, e)
    for ws, we in windows:  # windows begin and end in speech: silence between them is skipped
        assert any(s - eps <= ws < e for s, e in spans)
        assert any(s < we <= e + eps for s, e in spans)


def _regions(*spans: tuple[float, float]) -> list[SpeechRegion]:
    return [SpeechRegion(s, e) for s, e in spans]


# regions, duration, the expected windows (None: check the invariants only)
WINDOW_CASES = [
    pytest.param([], 10.0, [], id="no-speech"),
    pytest.param(_regions((1, 3), (4, 6)), 10.0, [(1, 6)], id="close-regions-share"),
    pytest.param(_regions((0, 5), (40, 45)), 50.0, [(0, 5), (40, 45)], id="far-apart"),
    pytest.param(_regions((0, 30)), 30.0, [(0, 30)], id="exactly-30"),
    pytest.param(_regions((0, 75)), 75.0, [(0, 25), (25, 50), (50, 75)], id="75s-cut-25-25-25"),
    pytest.param(_regions((0, 30.01)), 30.01, [(0, 15.005), (15.005, 30.01)], id="no-sliver"),
    pytest.param(_regions((0, 45), (46, 50)), 50.0, [(0, 22.5), (22.5, 50)], id="tail-joins-next"),
    pytest.param(_regions((0, 5), (8, 12)), 10.0, [(0, 10)], id="clipped-to-duration"),
    pytest.param(
        _regions(*[(t, t + 2.0) for t in np.arange(0.0, 100.0, 4.0)]), 100.0, None, id="many-short"
    ),
]


@pytest.mark.parametrize("regions,duration_s,want", WINDOW_CASES)
def test_plan_windows(regions, duration_s, want):
    windows = plan_windows(regions, duration_s)
    _check_windows(regions, duration_s, windows)
    if want is not None:
        assert len(windows) == len(want)
        np.testing.assert_allclose(np.reshape(windows, (-1, 2)), np.reshape(want, (-1, 2)))


@pytest.mark.parametrize("seed", range(5))
def test_plan_windows_random_regions(seed):
    rng = np.random.default_rng(seed)
    regions, t = [], rng.uniform(0, 5)
    for _ in range(100):
        length = rng.choice([rng.uniform(0.2, 5), rng.uniform(5, 70)], p=[0.8, 0.2])
        regions.append(SpeechRegion(t, t + length))
        t += length + rng.choice([rng.uniform(0.1, 2), rng.uniform(20, 40)], p=[0.7, 0.3])
    duration = t
    windows = plan_windows(regions, duration)
    assert len(windows) > 10
    _check_windows(regions, duration, windows)


def test_plan_windows_skips_long_silence():
    windows = plan_windows(_regions((2, 4), (100, 103)), 120.0, max_window_s=30.0)
    assert not any(s < 60 < e for s, e in windows)  # nothing decoded in the silence
    assert sum(e - s for s, e in windows) == pytest.approx(5.0)


def test_silero_vad_on_silence():
    pytest.importorskip("silero_vad")
    vad = SileroVAD.load()
    assert vad.name == "silero"
    assert vad.speech(Audio(silence(3.0))) == []
    assert load_vad("silero").speech(Audio(silence(1.0))) == []


@pytest.mark.weights
@requires_espeak
@requires_ffmpeg
def test_silero_vad_finds_two_sentences_around_a_pause(tmp_path):
    pytest.importorskip("silero_vad")
    sentences = [
        "Hello, thank you for calling the support line.",
        "I would like to change the address on my account, please.",
    ]
    parts = []
    for i, text in enumerate(sentences):
        path = tmp_path / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        parts.append(load_audio(path).samples)
    gap_start = len(parts[0]) / SAMPLE_RATE
    gap_end = gap_start + 2.0
    audio = Audio(np.concatenate([parts[0], silence(2.0), parts[1]]))

    got = SileroVAD.load().speech(audio)
    assert len(got) == 2, got
    first, second = got
    assert first.start_s < 0.5 and second.end_s > audio.duration_s - 0.5
    assert gap_start - 1.0 < first.end_s < gap_start + 0.5  # the gap lies between the two
    assert gap_end - 0.5 < second.start_s < gap_end + 1.0


def test_loading_silero_keeps_torch_threads():
    """silero_vad's import sets torch to one thread for the whole process; we undo that.
    In a fresh interpreter, since the import happens once per process."""
    pytest.importorskip("silero_vad")
    code = (
        "import torch; torch.set_num_threads(2); from voice.asr.vad import SileroVAD; SileroVAD.load(); "
        "print(torch.get_num_threads())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"


@requires_espeak
@requires_ffmpeg
def test_silero_vad_gives_the_same_regions_from_many_threads(tmp_path):
    """The batch transcriber runs one VAD in several decode threads: each must see its own
    model state, so every thread finds what a lone call finds."""
    from concurrent.futures import ThreadPoolExecutor

    pytest.importorskip("silero_vad")
    texts = [
        "Hello, thank you for calling the support line.",
        "I would like to change the address on my account, please.",
        "My order number is W two six one one three four zero.",
        "Could you tell me when my refund will arrive?",
    ]
    audios = []
    for i, text in enumerate(texts):
        path = tmp_path / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-s", str(140 + 15 * i), "-w", str(path), text], check=True, capture_output=True)  # fmt: skip
        speech = load_audio(path).samples
        audios.append(Audio(np.concatenate([silence(0.3 * i), speech, silence(1.0), speech])))
    vad = SileroVAD.load()
    alone = [vad.speech(a) for a in audios]
    assert all(alone)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            assert list(pool.map(vad.speech, audios * 2)) == alone * 2
