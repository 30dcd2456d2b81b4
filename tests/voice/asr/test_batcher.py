"""Many callers, one model: the windows of concurrent transcriptions are decoded together, each
caller gets the transcript of its own audio, and a failed batch fails only its own callers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.conftest import tiny_whisper
from voice.asr.batcher import BatchingASR, BatchOptions
from voice.asr.stt import WithVAD
from voice.asr.types import ASROptions, WindowResult
from voice.asr.vad import EnergyVAD
from voice.asr.whisper import WhisperASR
from voice.types import Audio, Segment

SR = 16_000


class CountingModel:
    """Decodes a window as its loudness ("level 3"), slowly, and keeps the batch sizes; a tiny
    random `WhisperASR`'s `assemble` puts a caller's windows together."""

    name = "counting"
    max_window_s = 30.0

    def __init__(self, fail_on: float | None = None):
        self.batches: list[int] = []
        self.fail_on = fail_on
        self._assembler = WhisperASR(tiny_whisper(), ASROptions())

    def decode_windows(self, windows, offsets_s, prompts=None):
        self.batches.append(len(windows))
        time.sleep(0.05)
        out = []
        for w, off in zip(windows, offsets_s, strict=True):
            level = round(float(np.abs(w).max()) * 10)
            if self.fail_on is not None and level == self.fail_on:
                raise RuntimeError(f"cannot decode level {level}")
            seg = Segment(off, off + len(w) / SR, f"level {level}", "en")
            out.append(WindowResult((seg,), "en", {"en": 1.0}, len(w) / SR))
        return out

    def assemble(self, results, duration_s, speaker=""):
        return self._assembler.assemble(results, duration_s, speaker)


def turn(level: int, lead_s: float = 0.5) -> Audio:
    """A second of tone at `level` tenths, after `lead_s` of silence."""
    t = np.arange(SR) / SR
    tone = level / 10 * np.sin(2 * np.pi * 220 * t)
    quiet = np.zeros(int(lead_s * SR), np.float32)
    return Audio(np.concatenate([quiet, tone, np.zeros(SR // 2)]).astype(np.float32))


def at_once(asr, audios) -> list:
    out: list = [None] * len(audios)

    def go(i):
        try:
            out[i] = asr.transcribe(audios[i])
        except Exception as e:
            out[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(audios))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_concurrent_turns_share_batches_and_each_gets_its_own_transcript():
    model = CountingModel()
    asr = BatchingASR(WithVAD(model, EnergyVAD()), BatchOptions(max_batch=8, max_wait_s=0.05))
    leads = (0.3, 0.6, 0.9, 1.2, 1.5, 1.8)
    got = at_once(asr, [turn(level, lead) for level, lead in zip((2, 4, 6, 8, 9, 3), leads, strict=True)])  # fmt: skip
    assert [t.text for t in got] == [
        "level 2",
        "level 4",
        "level 6",
        "level 8",
        "level 9",
        "level 3",
    ]
    assert sum(model.batches) == 6 and len(model.batches) < 6  # decoded together
    assert max(model.batches) <= 8 and asr.waiting == 0
    starts = [t.segments[0].start_s for t in got]  # each at its own audio's time
    assert all(abs(s - lead) < 0.25 for s, lead in zip(starts, leads, strict=True))


def test_a_batch_never_exceeds_its_size():
    model = CountingModel()
    asr = BatchingASR(WithVAD(model, EnergyVAD()), BatchOptions(max_batch=2, max_wait_s=0.05))
    got = at_once(asr, [turn(level) for level in (1, 2, 3, 4, 5)])
    assert [t.text for t in got] == [f"level {n}" for n in (1, 2, 3, 4, 5)]
    assert max(model.batches) <= 2 and sum(model.batches) == 5


def test_a_failed_batch_fails_its_callers_and_the_next_turn_works():
    model = CountingModel(fail_on=7)
    asr = BatchingASR(WithVAD(model, EnergyVAD()), BatchOptions(max_batch=8, max_wait_s=0.05))
    got = at_once(asr, [turn(7), turn(3)])
    assert all(isinstance(g, RuntimeError) and "level 7" in str(g) for g in got)  # one batch
    assert asr.transcribe(turn(3)).text == "level 3"
    silent = asr.transcribe(Audio(np.zeros(SR, np.float32)))
    assert silent.text == "" and silent.segments == ()  # no window, no batch
    with pytest.raises(ValueError, match="16 kHz"):
        asr.transcribe(Audio(np.zeros(8000, np.float32), 8000))


def test_bad_options_say_what_they_need():
    with pytest.raises(ValueError, match="max_batch >= 1"):
        BatchOptions(max_batch=0)
