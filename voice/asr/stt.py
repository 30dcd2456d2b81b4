"""The speech-to-text seam: audio in, a transcript out.

`WhisperASR.transcribe` (with a VAD, see `WithVAD`) is the real one; `tests.fakes.FakeASR` the
fake. Every implementation runs through tests/test_contracts.py. The batch transcriber uses the
wider window interface of `voice.asr.whisper.WhisperASR` (decode many windows at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from voice.types import Audio, Transcript


@runtime_checkable
class SpeechToText(Protocol):
    """One verb: `transcribe(audio) -> Transcript`. Silence gives an empty transcript, never
    invented words; a model failure raises the implementation's error (`ASRError`)."""

    name: str

    def transcribe(self, audio: Audio) -> Transcript: ...


@dataclass(frozen=True)
class WithVAD:
    """A speech-to-text model that hears only what the VAD calls speech (`vad.speech(audio)`)."""

    model: Any  # voice.asr.whisper.WhisperASR: transcribe(audio, vad=...)
    vad: Any  # voice.asr.vad.SileroVAD or EnergyVAD

    @property
    def name(self) -> str:
        return f"{self.model.name}+{self.vad.name}"

    def transcribe(self, audio: Audio) -> Transcript:
        return self.model.transcribe(audio, vad=self.vad)
