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


ASR_MODES = ("serial", "batched")  # or the URL of a `cca asr-serve`


def shared_asr(runtime, mode: str = "serial"):
    """The ASR every call of this worker uses: "serial" (one turn at a time on this process's
    Whisper), "batched" (this process's Whisper, the turns waiting decoded in one batch:
    voice.asr.batcher), or http(s)://HOST:PORT (a `cca asr-serve` that all workers share)."""
    if mode.startswith(("http://", "https://")):
        from voice.asr.remote import RemoteASR

        return RemoteASR(mode)
    if mode == "batched":
        from voice.asr.batcher import BatchingASR

        return BatchingASR(runtime.services.asr)
    if mode != "serial":
        raise ValueError(f"--asr {mode!r}: choose from {ASR_MODES} or an http(s) URL of `cca asr-serve`")  # fmt: skip
    return SerialASR(runtime.services.asr)


def session_factory(runtime, vad: str = "silero", session_options=None, asr: str = "serial") -> Callable:  # fmt: skip
    """Each call's VoiceSession over the runtime's ASR (`shared_asr(runtime, asr)`) and speaker,
    at 8 kHz in and out."""
    from voice.live.session import SessionOptions, VoiceSession
    from voice.live.stream_vad import EnergyStream, SileroStream, StreamVAD

    if runtime.speaker is None:
        raise RuntimeError("the phone line needs a voice: install the offline extra or espeak-ng")
    asr = shared_asr(runtime, asr)
    if runtime.metrics is not None:
        runtime.metrics.watch_queue("asr", lambda: asr.waiting)
    options = session_options or SessionOptions()

    def new_session(responder):
        scorer = SileroStream.load() if vad == "silero" else EnergyStream()
        return VoiceSession(StreamVAD(scorer), asr, responder, runtime.speaker, options,
                            in_rate=8000, out_rate=8000)  # fmt: skip

    return new_session
