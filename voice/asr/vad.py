"""Voice activity: where the speech is, and how to cut long audio into Whisper windows at pauses.

Two detectors behind one verb, `speech(audio) -> list[SpeechRegion]`:
- `SileroVAD`: the Silero model that the `silero-vad` package ships (ONNX), the default;
- `EnergyVAD`: a frame-energy detector with no model, for constrained installs and tests.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
from dataclasses import dataclass

import numpy as np

from voice.types import Audio

logger = logging.getLogger(__name__)

WHISPER_WINDOW_S = 30.0


@dataclass(frozen=True)
class SpeechRegion:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class VADOptions:
    threshold: float = 0.5  # speech probability above which a frame is speech
    min_speech_s: float = 0.25  # shorter bursts are dropped
    min_silence_s: float = 0.5  # pauses shorter than this do not split speech
    pad_s: float = 0.2  # padding kept around each region


class SileroVAD:
    """Silero VAD v5/v6 from the `silero-vad` package, run through onnxruntime."""

    name = "silero"

    def __init__(self, model, options: VADOptions = VADOptions()):
        self.model = model
        self.options = options
        self._local = threading.local()

    def _thread_model(self):
        """This thread's view of the model. Silero's wrapper keeps its recurrent state between
        chunks on the object, so two threads sharing it shift each other's speech edges by a
        chunk; each thread gets a shallow copy instead: its own state, the one ONNX session
        (whose run() may be called from many threads)."""
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = copy.copy(self.model)
        return model

    @classmethod
    def load(cls, options: VADOptions = VADOptions()) -> SileroVAD:
        import torch

        threads = torch.get_num_threads()
        try:
            from silero_vad import load_silero_vad
        except ImportError as e:
            raise ImportError(
                "Silero VAD needs the `silero-vad` and `onnxruntime` packages: "
                "pip install 'contact-centre-agent[voice]' (or use --vad energy)"
            ) from e
        finally:
            # importing silero_vad calls torch.set_num_threads(1) for the whole process, which
            # would halve Whisper's speed on a 2-core machine: put the thread count back
            torch.set_num_threads(threads)
        return cls(load_silero_vad(onnx=True), options)

    def speech(self, audio: Audio) -> list[SpeechRegion]:
        import torch
        from silero_vad import get_speech_timestamps

        o = self.options
        stamps = get_speech_timestamps(
            torch.from_numpy(audio.samples),
            self._thread_model(),
            threshold=o.threshold,
            sampling_rate=audio.sample_rate,
            min_speech_duration_ms=int(o.min_speech_s * 1000),
            min_silence_duration_ms=int(o.min_silence_s * 1000),
            speech_pad_ms=int(o.pad_s * 1000),
        )
        self.model.reset_states()
        sr = audio.sample_rate
        return [SpeechRegion(s["start"] / sr, s["end"] / sr) for s in stamps]


class EnergyVAD:
    """Speech where 30 ms frames are loud relative to the file's noise floor; no model needed."""

    name = "energy"

    def __init__(
        self,
        options: VADOptions = VADOptions(),
        frame_s: float = 0.03,
        min_dbfs: float = -50.0,
        speech_dbfs: float = -35.0,
    ):
        self.options = options
        self.frame_s = frame_s
        self.min_dbfs = min_dbfs  # frames quieter than this are never speech
        self.speech_dbfs = speech_dbfs  # frames louder than this are always speech

    def speech(self, audio: Audio) -> list[SpeechRegion]:
        n = max(1, int(self.frame_s * audio.sample_rate))
        frames = len(audio.samples) // n
        if frames == 0:
            return []
        x = audio.samples[: frames * n].reshape(frames, n)
        db = 10 * np.log10(np.mean(x * x, axis=1) + 1e-12)
        # 12 dB over the quietest frames, but never over `speech_dbfs`: when speech fills the
        # file, its quietest frames are speech too.
        floor = np.percentile(db, 10)
        active = (db > max(self.min_dbfs, min(floor + 12.0, self.speech_dbfs))).astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], active, [0]])))
        regions = [
            (s * self.frame_s, e * self.frame_s)
            for s, e in zip(edges[::2], edges[1::2], strict=True)
        ]
        return _tidy(regions, self.options, audio.duration_s)


def _tidy(
    regions: list[tuple[float, float]], o: VADOptions, duration_s: float
) -> list[SpeechRegion]:
    """Merge regions separated by short pauses, drop short bursts, pad."""
    merged: list[list[float]] = []
    for s, e in regions:
        if merged and s - merged[-1][1] < o.min_silence_s:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    out = []
    for s, e in merged:
        if e - s >= o.min_speech_s:
            out.append(SpeechRegion(max(0.0, s - o.pad_s), min(duration_s, e + o.pad_s)))
    return out


VADS = {"silero": SileroVAD.load, "energy": EnergyVAD}


def available_vads() -> list[str]:
    return list(VADS)


def load_vad(name: str, options: VADOptions = VADOptions()):
    if name not in VADS:
        raise ValueError(f"VAD {name!r} not found; available VADs = {available_vads()}")
    return VADS[name](options)


def plan_windows(
    regions: list[SpeechRegion], duration_s: float, max_window_s: float = WHISPER_WINDOW_S
) -> list[tuple[float, float]]:
    """Group speech regions into windows of at most `max_window_s`, cut at pauses.

    Silence between windows is skipped; pauses inside a window are kept so that timing stays
    simple. A region longer than a window is cut into window-sized pieces.
    """
    windows: list[tuple[float, float]] = []
    start = end = None
    for r in regions:
        s, e = r.start_s, min(r.end_s, duration_s)
        if start is not None and e - start <= max_window_s:
            end = e
            continue
        if start is not None:
            windows.append((start, end))
        if e - s > max_window_s:  # cut into equal pieces: no sliver of a window at the end
            n = math.ceil((e - s) / max_window_s)
            step = (e - s) / n
            windows += [(s + k * step, s + (k + 1) * step) for k in range(n - 1)]
            s = s + (n - 1) * step
        start, end = s, e
    if start is not None and end > start:
        windows.append((start, end))
    return windows
