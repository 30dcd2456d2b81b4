"""WebRTC's AEC3 as the session's echo canceller (voice.live.echo.EchoCanceller).

AEC3 is the canceller of Chrome and every WebRTC client: it finds the delay between the reference
and the echo itself, models the echo path with an adaptive frequency-domain filter (a phone
hybrid's band limit, a room's reflections, not only a delay and a gain) and suppresses what is
left while the caller is silent. pywebrtc-audio (the voice extra) ships it compiled (a 0.4 MB
wheel). Against the same speech-like echo (a delay, or a phone hybrid's band and a room) Speex's
MDF filter (libspeexdsp, Debian) took out 8-10 dB where AEC3 took out 50-60 dB; livekit's wheel
holds the same AEC3 in 12 MB with protobuf.

AEC3 works on whole 10 ms frames, the reference frame beside the line frame that it matches.
`play()` queues the reference at the input position it was played at (as `DelayGainCanceller`
does); `process()` takes the line in chunks of any length, runs every whole frame, and hands out
the processed line one frame late (`latency_samples`), so that the output is as long as the input.
"""

from __future__ import annotations

import numpy as np

from voice.live.frames import reference_start, reference_window

try:
    import pywebrtc_audio
except ImportError:  # pragma: no cover - the message says what to install
    pywebrtc_audio = None


class WebRTCCanceller:
    def __init__(self, sample_rate: int = 16_000, stream_delay_ms: int = 0):
        """`stream_delay_ms`: a hint of the echo's delay (0: AEC3 estimates it)."""
        if pywebrtc_audio is None:
            raise ImportError(
                "the webrtc echo canceller needs pywebrtc-audio: pip install -e '.[voice]' "
                "(or choose echo='gain')"
            )
        if sample_rate % 100:
            raise ValueError(f"sample_rate must hold whole 10 ms frames; got {sample_rate}")
        self.sample_rate = sample_rate
        self.frame = sample_rate // 100
        self.latency_samples = self.frame
        self._aec = pywebrtc_audio.EchoCanceller(sample_rate, 1, stream_delay_ms)
        self.n = 0  # line samples taken in
        self._done = 0  # line samples run through AEC3 (whole frames)
        self._pending = np.zeros(0, np.float32)  # line samples not yet a whole frame
        self._out = np.zeros(self.frame, np.float32)  # processed line not yet handed out
        self._ref = np.zeros(0, np.float32)  # reference for line positions [_ref0, ...)
        self._ref0 = 0

    def play(self, samples: np.ndarray, at: int | None = None) -> None:
        x = np.asarray(samples, dtype=np.float32)
        end = self._ref0 + len(self._ref)
        start = reference_start(at, self.n, end, self.sample_rate)
        if start > end:  # a gap in playback: silence in the reference
            self._ref = np.concatenate([self._ref, np.zeros(start - end, np.float32)])
        self._ref = np.concatenate([self._ref, x])

    def process(self, samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32)
        self.n += len(x)
        self._pending = np.concatenate([self._pending, x])
        whole = len(self._pending) // self.frame * self.frame
        if whole:
            near, self._pending = self._pending[:whole], self._pending[whole:]
            far = self._reference(self._done, whole)
            self._done += whole
            self._trim()
            self._out = np.concatenate([self._out, self._aec.process(near, far)])
        out, self._out = self._out[: len(x)], self._out[len(x) :]
        return out

    def _reference(self, start: int, length: int) -> np.ndarray:
        return reference_window(self._ref, self._ref0, start, length)

    def _trim(self) -> None:
        cut = min(self._done - self._ref0, len(self._ref))
        if cut > 0:
            self._ref, self._ref0 = self._ref[cut:], self._ref0 + cut
