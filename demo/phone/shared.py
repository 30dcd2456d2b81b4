"""What every call of one phone line shares: one Whisper, taken in turn, and each call's voice
session over it and the runtime's speaker."""

from __future__ import annotations

import threading
from collections.abc import Callable


class SerialASR:
    """One shared ASR model for every call, one transcription at a time (Whisper's decoder
    installs hooks on the model, so two threads may not decode with it at once)."""

    def __init__(self, asr):
        self.asr, self._lock, self._count = asr, threading.Lock(), threading.Lock()
        self.waiting = 0  # transcriptions queued behind the one running (cca_model_queue_depth)

    def transcribe(self, audio):
        with self._count:
            self.waiting += 1
        with self._lock:
            with self._count:
                self.waiting -= 1
            return self.asr.transcribe(audio)


def session_factory(runtime, vad: str = "silero", session_options=None) -> Callable:
    """Each call's VoiceSession over the runtime's ASR and speaker, at 8 kHz in and out."""
    from voice.live.session import SessionOptions, VoiceSession
    from voice.live.stream_vad import EnergyStream, SileroStream, StreamVAD

    if runtime.speaker is None:
        raise RuntimeError("the phone line needs a voice: install the offline extra or espeak-ng")
    asr = SerialASR(runtime.services.asr)
    if runtime.metrics is not None:
        runtime.metrics.watch_queue("asr", lambda: asr.waiting)
    options = session_options or SessionOptions()

    def new_session(responder):
        scorer = SileroStream.load() if vad == "silero" else EnergyStream()
        return VoiceSession(StreamVAD(scorer), asr, responder, runtime.speaker, options,
                            in_rate=8000, out_rate=8000)  # fmt: skip

    return new_session
