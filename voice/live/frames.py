"""Audio in small frames: samples from what a bridge sends, and a resampler that keeps its state.

`StreamResampler(from_rate, to_rate).process(samples)` converts frame by frame (a polyphase
windowed-sinc filter, 16 zero crossings) with no clicks at frame edges, so 20 ms phone frames at
8 kHz become 16 kHz for the VAD and the ASR, and 16 kHz audio becomes 48 kHz for a browser.
`voice.audio.resample` (ffmpeg's soxr) stays the choice for whole files. It is not
`voice.codec.StreamResampler` (soxr's stream, used for the TTS output) on purpose: soxr's HQ
stream holds back about 65 ms of 8 kHz input before its first output, and on the caller's side
every millisecond is barge-in and endpointing delay; this filter lags 1 ms.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from voice.types import Audio


def as_samples(frame: Audio | np.ndarray | bytes, sample_rate: int) -> tuple[np.ndarray, int]:
    """(float32 samples in [-1, 1], rate) from an Audio, a float or int16 array, or int16 bytes."""
    if isinstance(frame, Audio):
        return frame.samples.astype(np.float32, copy=False), frame.sample_rate
    if isinstance(frame, bytes | bytearray | memoryview):
        frame = np.frombuffer(frame, dtype="<i2")
    x = np.asarray(frame)
    if x.ndim != 1:
        raise ValueError(f"a frame must be mono, shape (n,); got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        return (x.astype(np.float32) / 32768.0), sample_rate
    return x.astype(np.float32, copy=False), sample_rate


class StreamResampler:
    """Rational-ratio resampling of a stream; `process` may be given any number of samples.

    The output lags the input by half the filter (16 input samples when upsampling, about 1 ms).
    """

    def __init__(self, from_rate: int, to_rate: int, zero_crossings: int = 16):
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError(f"sample rates must be positive; got {from_rate} -> {to_rate}")
        g = gcd(from_rate, to_rate)
        self.up, self.down = to_rate // g, from_rate // g
        self.from_rate, self.to_rate = from_rate, to_rate
        self.identity = from_rate == to_rate
        cutoff = min(1.0, self.up / self.down)  # of the input Nyquist, after upsampling by `up`
        half = zero_crossings * max(1, int(np.ceil(self.down / self.up)))  # taps per side, input
        self.half = half
        # h[phase, k]: the weight of input sample (base - half + 1 + k) for output phase `phase`
        k = np.arange(-half + 1, half + 1)
        phases = np.arange(self.up) / self.up
        t = k[None, :] - phases[:, None]
        window = np.kaiser(2 * half + 1, 8.0)
        w = np.interp(t, np.arange(-half, half + 1), window)
        self.h = (cutoff * np.sinc(cutoff * t) * w).astype(np.float32)
        self._buf = np.zeros(2 * half, dtype=np.float32)  # history so the next call can look back
        self._base = half  # input index (into _buf) of the next output's left sample
        self._phase = 0  # next output's position = _base + _phase / up

    def process(self, samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32)
        if self.identity:
            return x
        buf = np.concatenate([self._buf, x])
        # outputs whose right-most tap (base + half) is available
        n_in_reach = len(buf) - self.half - self._base  # how many base steps remain available
        if n_in_reach <= 0:
            self._buf = buf
            return np.zeros(0, dtype=np.float32)
        total = (n_in_reach * self.up - self._phase + self.down - 1) // self.down
        pos = self._phase + np.arange(total) * self.down  # in 1/up input samples from _base
        base = self._base + pos // self.up
        phase = pos % self.up
        idx = base[:, None] + np.arange(-self.half + 1, self.half + 1)[None, :]
        out = np.einsum("nk,nk->n", buf[idx], self.h[phase])
        end = self._phase + total * self.down
        self._base += end // self.up
        self._phase = end % self.up
        keep = max(0, self._base - self.half)
        self._buf = buf[keep:]
        self._base -= keep
        return out.astype(np.float32)


def frames_of(audio: Audio, frame_ms: float = 20.0) -> list[Audio]:
    """`audio` cut into frames of `frame_ms` (the last one may be shorter)."""
    n = max(1, int(round(audio.sample_rate * frame_ms / 1000)))
    return [
        Audio(audio.samples[i : i + n], audio.sample_rate, audio.source)
        for i in range(0, len(audio.samples), n)
    ]


PLAY_SLACK_S = 0.01  # a gap in playback shorter than this is the clock's jitter, not a pause


def reference_start(at: int | None, n: int, end: int, sample_rate: int) -> int:
    """Where samples just played go in an echo canceller's reference: at input position `at` (the
    current one, `n`, when None; never before it), or right after the reference already queued
    (`end`) when that is later or the gap to it is under PLAY_SLACK_S. A gap that short is a
    frame sent a little late or a resampler's rounding, not the line pausing, and a gap in the
    reference where the line has none would put the rest of the reply early."""
    at = n if at is None else max(at, n)
    return at if at - end > PLAY_SLACK_S * sample_rate else end


def reference_window(ref: np.ndarray, ref0: int, start: int, length: int) -> np.ndarray:
    """The played samples `ref` (the first at input position `ref0`) for input positions
    [start, start + length), zeros where nothing was played."""
    out = np.zeros(length, dtype=np.float32)
    a, b = max(start, ref0), min(start + length, ref0 + len(ref))
    if b > a:
        out[a - start : b - start] = ref[a - ref0 : b - ref0]
    return out


class InputClock:
    """Where the caller's stream is *now*, in its samples, though its frames are taken late.

    Frames arrive in real time, but a session takes them when its event loop gets to them: after
    a stall (the ASR or the TTS holding the CPU) the samples taken lag the wall clock, and a
    reply played then would be placed against the input as if it were played earlier. Its echo
    comes back on the line at the wall-clock position, so an echo canceller given the sample
    count sees a new delay for each reply. `took(n, now)` after every frame; `position(now)`: the
    samples the stream holds at `now`, from the earliest start that any frame of the last
    `window_s` allows (frames are never early, only late), and never less than those taken.
    """

    def __init__(self, sample_rate: int, window_s: float = 10.0):
        self.sample_rate = sample_rate
        self.window_s = window_s
        self.taken = 0
        self._starts: list[tuple[float, float]] = []  # (when, the stream's start it implies)

    def took(self, n: int, now: float) -> None:
        self.taken += n
        start = now - self.taken / self.sample_rate
        while self._starts and self._starts[-1][1] >= start:
            self._starts.pop()  # a later, earlier start makes it moot (a monotonic deque)
        self._starts.append((now, start))
        while self._starts[0][0] < now - self.window_s and len(self._starts) > 1:
            self._starts.pop(0)

    def position(self, now: float) -> int:
        if not self._starts:
            return self.taken
        return max(self.taken, int(round((now - self._starts[0][1]) * self.sample_rate)))
