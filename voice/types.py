"""The few frozen types that carry audio and transcripts through the project."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16_000  # Whisper's input rate; every decoded Audio is at this rate unless stated.


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono float32 samples in [-1, 1].

    samples: (n_samples,) float32
    """

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    source: str = ""  # file name or other label, for error messages and outputs

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def slice(self, start_s: float, end_s: float) -> Audio:
        a = max(0, int(round(start_s * self.sample_rate)))
        b = min(len(self.samples), int(round(end_s * self.sample_rate)))
        return Audio(self.samples[a:b], self.sample_rate, self.source)


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    language: str = ""
    speaker: str = ""  # channel label for split stereo calls ("agent", "customer"), else ""
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    """What the ASR heard in one piece of audio."""

    text: str
    language: str
    duration_s: float
    segments: tuple[Segment, ...] = ()
    language_probs: dict[str, float] = field(default_factory=dict)
    model: str = ""

    def to_dict(self) -> dict:
        """The JSON shape of `cca transcribe --format json` (see README)."""
        out = {
            "text": self.text,
            "language": self.language,
            "language_probs": {k: round(v, 4) for k, v in self.language_probs.items()},
            "duration_s": round(self.duration_s, 3),
            "model": self.model,
            "segments": [],
        }
        for s in self.segments:
            seg = {"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3), "text": s.text}
            seg["language"] = s.language
            if s.speaker:
                seg["speaker"] = s.speaker
            seg["avg_logprob"] = round(s.avg_logprob, 4)
            seg["no_speech_prob"] = round(s.no_speech_prob, 4)
            if s.words:
                seg["words"] = [
                    {
                        "start_s": round(w.start_s, 3),
                        "end_s": round(w.end_s, 3),
                        "text": w.text,
                        "probability": round(w.probability, 4),
                    }
                    for w in s.words
                ]
            out["segments"].append(seg)
        return out
