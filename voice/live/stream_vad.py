"""Voice activity on a live stream: 32 ms chunks at 16 kHz in, speech start and end out.

Two chunk scorers behind one verb, `probability(chunk) -> float` (chunk: (512,) float32 at
16 kHz), which keep their state between calls:
- `SileroStream`: the Silero model that the `silero-vad` package ships (ONNX, ~0.2 ms a chunk);
- `EnergyStream`: loudness over an adaptive noise floor, no model (constrained installs, tests).

`StreamVAD(scorer, options).feed(samples)` takes any number of 16 kHz samples, scores each full
chunk and applies hysteresis: speech starts after `min_speech_s` of chunks over `threshold`, and
ends after `min_silence_s` of chunks under `threshold - hysteresis`. Events carry the stream
time of the speech's first and last chunk, so a consumer can backdate both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

VAD_RATE = 16_000
CHUNK = 512  # Silero's chunk at 16 kHz: 32 ms


@dataclass(frozen=True)
class StreamVADOptions:
    threshold: float = 0.5  # a chunk scoring above this is speech
    hysteresis: float = 0.15  # once speaking, a chunk is silence only below threshold - this
    min_speech_s: float = 0.096  # this much speech (3 chunks) before "start" is reported
    min_silence_s: float = 0.256  # this much silence (8 chunks) before "end" is reported

    def __post_init__(self):
        if not 0 < self.threshold < 1 or not 0 <= self.hysteresis < self.threshold:
            raise ValueError(
                f"need 0 < threshold < 1 and 0 <= hysteresis < threshold; got "
                f"threshold={self.threshold}, hysteresis={self.hysteresis}"
            )


@dataclass(frozen=True)
class VADEvent:
    kind: str  # "start" or "end"
    start_s: float  # stream time of the speech's first chunk
    end_s: float  # "end": stream time after its last speech chunk; "start": now


class SileroStream:
    """Silero VAD v5/v6 scoring one 512-sample chunk at a time, keeping its recurrent state."""

    name = "silero"
    sample_rate = VAD_RATE
    chunk_samples = CHUNK

    def __init__(self, model):
        self.model = model

    @classmethod
    def load(cls, onnx: bool = True) -> SileroStream:
        """The packaged model (weights ship inside the `silero-vad` wheel; nothing downloads)."""
        if onnx:
            from voice.asr.vad import SileroVAD  # its loader keeps torch's thread count

            return cls(SileroVAD.load().model)
        import torch
        from silero_vad import load_silero_vad

        threads = torch.get_num_threads()
        try:
            return cls(load_silero_vad(onnx=False))
        finally:
            torch.set_num_threads(threads)

    def probability(self, chunk: np.ndarray) -> float:
        import torch

        return float(self.model(torch.from_numpy(np.ascontiguousarray(chunk)), VAD_RATE).item())

    def reset(self) -> None:
        self.model.reset_states()


class EnergyStream:
    """A chunk's loudness mapped to [0, 1]: 0.5 at `margin_db` over the running noise floor
    (never under `min_dbfs`, never over `speech_dbfs`)."""

    name = "energy"
    sample_rate = VAD_RATE
    chunk_samples = CHUNK

    def __init__(
        self, min_dbfs: float = -50.0, speech_dbfs: float = -30.0, margin_db: float = 12.0
    ):
        self.min_dbfs = min_dbfs  # quieter chunks are never speech
        self.speech_dbfs = speech_dbfs  # louder chunks are always speech
        self.margin_db = margin_db  # speech is this much over the noise floor
        self.reset()

    def probability(self, chunk: np.ndarray) -> float:
        db = 10 * np.log10(float(np.mean(chunk * chunk)) + 1e-12)
        # the floor follows quiet chunks quickly and loud ones very slowly
        rate = 0.2 if db < self.floor_db else 0.002
        self.floor_db += rate * (db - self.floor_db)
        gate = max(self.min_dbfs, min(self.floor_db + self.margin_db, self.speech_dbfs))
        return float(1 / (1 + np.exp(-(db - gate) / 2.0)))

    def reset(self) -> None:
        self.floor_db = -70.0


class StreamVAD:
    """Hysteresis over chunk scores. `feed` returns the events of the samples given."""

    def __init__(self, scorer, options: StreamVADOptions = StreamVADOptions()):
        if scorer.sample_rate != VAD_RATE:
            raise ValueError(f"the stream VAD runs at {VAD_RATE} Hz; {scorer.name} declares "
                             f"{scorer.sample_rate} Hz")  # fmt: skip
        self.scorer = scorer
        self.options = options
        self.chunk_s = scorer.chunk_samples / VAD_RATE
        self.reset()

    def reset(self) -> None:
        self.scorer.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self.time_s = 0.0  # stream time of the samples scored so far
        self.speaking = False
        self.probability = 0.0  # the last chunk's score
        self._run_start = None  # first chunk of the current speech run (before "start")
        self._speech_start = 0.0
        self._last_speech_end = 0.0  # end of the last chunk over the threshold
        self._quiet_s = 0.0

    @property
    def speech_s(self) -> float:
        """How long the current speech has lasted (0 when not speaking)."""
        return self.time_s - self._speech_start if self.speaking else 0.0

    @property
    def silence_s(self) -> float:
        """Time since the last speech chunk ended."""
        return self.time_s - self._last_speech_end

    def feed(self, samples: np.ndarray) -> list[VADEvent]:
        x = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        n = self.scorer.chunk_samples
        events = []
        used = 0
        while len(x) - used >= n:
            events += self._chunk(x[used : used + n])
            used += n
        self._pending = x[used:]
        return events

    def _chunk(self, chunk: np.ndarray) -> list[VADEvent]:
        o = self.options
        p = self.probability = self.scorer.probability(chunk)
        start, self.time_s = self.time_s, self.time_s + self.chunk_s
        if not self.speaking:
            if p >= o.threshold:
                self._last_speech_end = self.time_s
                if self._run_start is None:
                    self._run_start = start
                if self.time_s - self._run_start >= o.min_speech_s - 1e-9:
                    self.speaking, self._speech_start, self._quiet_s = True, self._run_start, 0.0
                    self._run_start = None
                    return [VADEvent("start", self._speech_start, self.time_s)]
            else:
                self._run_start = None
            return []
        if p >= o.threshold - o.hysteresis:
            self._last_speech_end, self._quiet_s = self.time_s, 0.0
            return []
        self._quiet_s += self.chunk_s
        if self._quiet_s >= o.min_silence_s - 1e-9:
            self.speaking = False
            return [VADEvent("end", self._speech_start, self._last_speech_end)]
        return []
