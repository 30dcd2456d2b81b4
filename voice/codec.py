"""Phone audio: G.711 mu-law at 8 kHz in 20 ms frames, and the resampling to get there and back.

The mu-law coder is the ITU-T G.711 one (14-bit samples, bias 0x21, clip 8159), in numpy, so it needs neither
the deprecated `audioop` nor a C extension. Rate conversion uses the SoX resampler (`soxr`);
`StreamResampler` converts audio that arrives in pieces with no seams between them.
"""

from __future__ import annotations

import logging

import numpy as np

from voice.types import Audio

logger = logging.getLogger(__name__)

PHONE_RATE = 8_000  # G.711 narrowband
FRAME_MS = 20  # one RTP/telephony packet
FRAME_BYTES = PHONE_RATE * FRAME_MS // 1000  # 160 mu-law bytes per frame
MULAW_SILENCE = 0xFF  # the code for 0
_BIAS = 0x21  # in the 14-bit domain (0x84 in 16-bit)
_CLIP = 8159


def _soxr():
    try:
        import soxr
    except ImportError as e:
        raise ImportError(
            "resampling needs the `soxr` package: pip install 'contact-centre-agent[voice]' "
            "(or pip install soxr)"
        ) from e
    return soxr


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling of a whole signal (mono float32)."""
    x = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or len(x) == 0:
        return x
    return _soxr().resample(x, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


class StreamResampler:
    """Resamples a signal that arrives in chunks; the output is the same as resampling the whole
    signal at once, so there is no click where chunks meet. Call `process(x, last=True)` (or
    `flush()`) at the end to get the filter's tail."""

    def __init__(self, from_rate: int, to_rate: int):
        self.from_rate, self.to_rate = from_rate, to_rate
        same = from_rate == to_rate
        self._stream = (
            None if same else _soxr().ResampleStream(from_rate, to_rate, 1, "float32", "HQ")
        )

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32)
        if self._stream is None:
            return x
        return self._stream.resample_chunk(x, last=last).astype(np.float32, copy=False)

    def flush(self) -> np.ndarray:
        return self.process(np.zeros(0, np.float32), last=True)


def mulaw_encode(samples: np.ndarray) -> bytes:
    """float samples in [-1, 1] -> G.711 mu-law bytes, one per sample."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768), -32768, 32767)
    pcm14 = pcm.astype(np.int32) >> 2  # G.711 works on 14-bit samples (floor, as the reference)
    sign = np.where(pcm14 < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(pcm14), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 5  # 0..7
    mantissa = np.where(exponent > 7, 0x0F, (magnitude >> (exponent + 1)) & 0x0F)  # full scale
    exponent = np.minimum(exponent, 7)
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> float32 samples in [-1, 1]."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84  # 16-bit domain
    return (np.where(sign, -magnitude, magnitude) / 32768.0).astype(np.float32)


def to_phone_frames(audio: Audio) -> list[bytes]:
    """Audio at any rate -> 8 kHz mu-law in 20 ms frames of 160 bytes; the last frame is padded
    with silence."""
    data = mulaw_encode(resample(audio.samples, audio.sample_rate, PHONE_RATE))
    pad = -len(data) % FRAME_BYTES
    data += bytes([MULAW_SILENCE]) * pad
    return [data[i : i + FRAME_BYTES] for i in range(0, len(data), FRAME_BYTES)]


def from_phone_frames(frames: bytes | list[bytes], sample_rate: int = PHONE_RATE) -> Audio:
    """8 kHz mu-law bytes (one buffer or a list of frames) -> Audio at `sample_rate`."""
    data = frames if isinstance(frames, bytes | bytearray) else b"".join(frames)
    x = mulaw_decode(bytes(data))
    return Audio(resample(x, PHONE_RATE, sample_rate), sample_rate, "mu-law")
