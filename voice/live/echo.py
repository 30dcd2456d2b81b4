"""The agent's own voice coming back on the caller's line, taken out before the VAD hears it.

Phone lines (hybrids, speakerphones) and laptops without headsets return a delayed, attenuated,
filtered copy of what we play. An `EchoCanceller` takes the played audio as its reference
(`play(samples)`) and the caller's line (`process(samples) -> samples`), both at `sample_rate`,
in chunks of any length; its output lags its input by `latency_samples`. Two implement it, chosen
by name (`make_echo_canceller(name)`, `SessionOptions.echo`):

- "webrtc" (the default): WebRTC's AEC3 (voice.live.echo_webrtc), an adaptive filter with its own
  delay estimator and residual echo suppressor; it models a real echo path (a phone hybrid's
  band limit, a room). Needs the voice extra (pywebrtc-audio).
- "gain": `DelayGainCanceller` below, one delay and one gain, numpy only:

1. Echo path: every `estimate_every_s`, while something was played, the cross-correlation of the
   last `window_s` of input with the reference over lags 0..`max_delay_s` (one FFT) gives the
   delay; a least-squares fit at that lag gives the gain. An estimate is kept only when the
   normalised correlation is over `min_correlation` (so double talk does not spoil it).
2. Cancel: the input minus gain x the delayed reference.
3. Suppress: a double-talk test decides whether the caller is speaking over the echo; when not,
   the residual is scaled by `suppress_gain` (the "non-linear processor" of telephone echo
   cancellers). Before an echo path is known the test is Geigel's: the caller speaks when the
   input's peak is over `1 / 10^(assumed_erl_db/20)` of the reference's peak over the last
   `max_delay_s`; once known: when the residual is louder than `double_talk_db` under the
   predicted echo (a good fit leaves pure echo far quieter than that).

Times are in samples of the 16 kHz input stream: `play(samples, at)` puts the reference at the
input position it was played at (the session's `voice.live.frames.InputClock`: where the stream
is by the wall clock, not only the samples taken so far), `process(samples)` advances the input
position.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voice.live.frames import reference_start, reference_window

logger = logging.getLogger(__name__)


class EchoCanceller(Protocol):
    """The session's echo canceller: the played audio in as the reference, the line in, the line
    out without the agent's voice. Chunks of any length; output as long as the input."""

    sample_rate: int  # of the reference and the line
    latency_samples: int  # the output lags the input by this much (whole internal frames)

    def play(self, samples: np.ndarray, at: int | None = None) -> None:
        """What was just played, placed at input position `at` (default: the current one), or
        after the reference already queued."""

    def process(self, samples: np.ndarray) -> np.ndarray:
        """The caller's line, the echo of the reference taken out."""


@dataclass(frozen=True)
class EchoOptions:
    sample_rate: int = 16_000  # of both the input and the reference
    max_delay_s: float = 0.4  # the longest echo path searched (network + jitter buffer + room)
    window_s: float = 0.5  # input analysed per delay estimate
    estimate_every_s: float = 0.128  # how often the echo path is re-estimated while playing
    min_correlation: float = 0.6  # an estimate with weaker normalised correlation is ignored
    assumed_erl_db: float = 6.0  # before the path is known: echo is at least this much quieter
    double_talk_db: float = -10.0  # residual over predicted echo + this means the caller speaks
    suppress_gain: float = 0.03  # residual scale when only echo is heard (-30 dB)


class DelayGainCanceller:
    """One delay and one gain per estimate, subtracted, then a non-linear suppressor."""

    latency_samples = 0

    def __init__(self, options: EchoOptions = EchoOptions()):
        self.options = options
        self.sample_rate = options.sample_rate
        self.n = 0  # input samples processed
        self.delay: int | None = None  # estimated echo delay, samples
        self.gain = 0.0
        self.correlation = 0.0
        self.double_talk = False  # the last block's verdict
        self._ref = np.zeros(0, dtype=np.float32)  # reference for input positions [_ref0, ...)
        self._ref0 = 0
        self._inp = np.zeros(0, dtype=np.float32)  # recent input, ending at position n
        self._since_estimate = 0
        self._played_recently = 0  # input position until which the reference is non-silent

    def play(self, samples: np.ndarray, at: int | None = None) -> None:
        """What was just played (16 kHz), placed at input position `at` (default: the current
        one) or after the reference already queued."""
        x = np.asarray(samples, dtype=np.float32)
        end = self._ref0 + len(self._ref)
        start = reference_start(at, self.n, end, self.sample_rate)
        if start > end:  # a gap in playback: silence in the reference
            self._ref = np.concatenate([self._ref, np.zeros(start - end, np.float32)])
            if np.any(x):
                # playback starts again after a silence: where it lands against the input is
                # new, so the old delay is not trusted (Geigel's test until a new estimate)
                self.delay, self.gain, self.correlation = None, 0.0, 0.0
            end = start
        self._ref = np.concatenate([self._ref, x])
        if np.any(x):
            self._played_recently = end + len(x)

    def active(self) -> bool:
        """Whether echo of recent playback may still be arriving."""
        return self.n < self._played_recently + int(
            self.options.max_delay_s * self.options.sample_rate
        )

    def process(self, samples: np.ndarray) -> np.ndarray:
        """The input block with the echo taken out (and suppressed when only echo is heard)."""
        o = self.options
        x = np.asarray(samples, dtype=np.float32)
        n0, self.n = self.n, self.n + len(x)
        self._inp = np.concatenate([self._inp, x])[-int(o.window_s * o.sample_rate) :]
        if not self.active() and self.n - self._played_recently > 4 * o.max_delay_s * o.sample_rate:
            self._trim()
            self.double_talk = True
            return x
        self._since_estimate += len(x)
        if self._since_estimate >= o.estimate_every_s * o.sample_rate:
            self._since_estimate = 0
            self._estimate()
        out = x
        if self.delay is not None:
            predicted = self.gain * self._reference(n0 - self.delay, len(x))
            out = x - predicted
            echo_rms, res_rms = _rms(predicted), _rms(out)
            self.double_talk = echo_rms < 1e-4 or res_rms > echo_rms * 10 ** (o.double_talk_db / 20)
        else:
            max_d = int(o.max_delay_s * o.sample_rate)
            ref_peak = float(np.max(np.abs(self._reference(n0 - max_d, max_d + len(x))), initial=0))
            peak = float(np.max(np.abs(x), initial=0))
            self.double_talk = peak > ref_peak * 10 ** (-o.assumed_erl_db / 20)
        self._trim()
        return out if self.double_talk else out * o.suppress_gain

    # -- helpers ------------------------------------------------------------------------------

    def _reference(self, start: int, length: int) -> np.ndarray:
        return reference_window(self._ref, self._ref0, start, length)

    def _estimate(self) -> None:
        o = self.options
        x = self._inp
        if len(x) < o.window_s * o.sample_rate * 0.5 or _rms(x) < 1e-4:
            return
        max_d = int(o.max_delay_s * o.sample_rate)
        start = self.n - len(x)
        r = self._reference(start - max_d, max_d + len(x))
        if _rms(r) < 1e-4:
            return
        size = 1 << int(np.ceil(np.log2(len(r) + len(x))))
        # c[d] = sum_t x[t] r[t + max_d - d]: the input against the reference d samples earlier
        spec = np.fft.rfft(r, size) * np.conj(np.fft.rfft(x, size))
        c = np.fft.irfft(spec, size)[: max_d + 1][::-1]
        # energy of each reference window, for the normalised correlation
        cum = np.concatenate([[0.0], np.cumsum(r.astype(np.float64) ** 2)])
        lags = np.arange(max_d + 1)
        energy = cum[max_d - lags + len(x)] - cum[max_d - lags]
        norm = c / (np.sqrt(energy * float(x @ x)) + 1e-9)
        d = int(np.argmax(norm))
        if norm[d] < o.min_correlation or energy[d] < 1e-6:
            return
        self.delay, self.correlation = d, float(norm[d])
        self.gain = float(np.clip(c[d] / energy[d], 0.0, 2.0))
        logger.debug("echo path: delay %.1f ms, gain %.2f, corr %.2f",
                     1000 * d / o.sample_rate, self.gain, self.correlation)  # fmt: skip

    def _trim(self) -> None:
        o = self.options
        keep_from = self.n - int((o.max_delay_s + o.window_s) * o.sample_rate) - 1
        if keep_from > self._ref0:
            cut = min(keep_from - self._ref0, len(self._ref))
            self._ref, self._ref0 = self._ref[cut:], self._ref0 + cut


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


LINE_ECHOES = ("delay", "hybrid")


def line_echo_response(kind: str = "delay", sample_rate: int = 16_000, delay_s: float = 0.12,
                       gain: float = 0.3) -> np.ndarray:  # fmt: skip
    """A simulated line's echo path, for tests and benchmarks: the impulse response of "delay"
    (a delay and a gain) or "hybrid" (a phone line's 300-3400 Hz band, then a short room's
    decaying reflections, as loud as `gain` on white noise), `delay_s` late."""
    d = int(round(delay_s * sample_rate))
    if kind == "delay":
        return np.concatenate([np.zeros(d), [gain]])
    if kind != "hybrid":
        raise ValueError(f"line echo {kind!r} not found; available = {list(LINE_ECHOES)}")
    rng = np.random.default_rng(1)
    t = np.arange(129) - 64
    lo, hi = 2 * 300 / sample_rate, 2 * 3400 / sample_rate
    band = (hi * np.sinc(hi * t) - lo * np.sinc(lo * t)) * np.hamming(len(t))
    m = int(0.05 * sample_rate)
    room = rng.standard_normal(m) * np.exp(-np.arange(m) / (0.012 * sample_rate))
    room[0] = 3.0
    taps = np.convolve(band, room)
    noise = rng.standard_normal(sample_rate)
    taps *= gain / np.sqrt(np.mean(np.convolve(noise, taps)[:sample_rate] ** 2))
    return np.concatenate([np.zeros(d), taps])


def _webrtc(sample_rate: int) -> EchoCanceller:
    from voice.live.echo_webrtc import WebRTCCanceller

    return WebRTCCanceller(sample_rate=sample_rate)


ECHO_CANCELLERS: dict[str, Callable[[int], EchoCanceller]] = {
    "webrtc": _webrtc,
    "gain": lambda rate: DelayGainCanceller(EchoOptions(sample_rate=rate)),
}
DEFAULT_ECHO = "webrtc"  # bench/bench_session.py --line-echo: fewest false barge-ins (README)


def available_echo_cancellers() -> list[str]:
    return list(ECHO_CANCELLERS)


def make_echo_canceller(name: str = DEFAULT_ECHO, sample_rate: int = 16_000) -> EchoCanceller:
    if name not in ECHO_CANCELLERS:
        raise ValueError(f"echo canceller {name!r} not found; available = {available_echo_cancellers()}")  # fmt: skip
    return ECHO_CANCELLERS[name](sample_rate)
