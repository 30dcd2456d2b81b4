"""Audio in: any common file format to 16 kHz mono float32, with limits and clear errors.

Decoding runs the `ffmpeg` program (Debian/Ubuntu: `apt-get install ffmpeg`). A crafted input
must not make the decoder read other local files, so ffmpeg is only allowed the `file` protocol
and a fixed list of audio demuxers: playlists (HLS, concat, ...) that point elsewhere are refused.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.types import SAMPLE_RATE, Audio

logger = logging.getLogger(__name__)

# Demuxers ffmpeg may use. Anything else (hls, concat, image2, ...) is refused before it opens.
ALLOWED_DEMUXERS = (
    "wav", "w64", "flac", "mp3", "ogg", "mov", "mp4", "m4a", "matroska", "webm", "aac",
    "amr", "au", "aiff", "caf", "mulaw", "alaw", "asf", "wv", "ape", "opus",
)  # fmt: skip
# File name endings picked up when a folder is searched (files named explicitly are always tried).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".webm", ".mka",
     ".amr", ".au", ".aiff", ".aif", ".caf", ".wma", ".wv"}
)  # fmt: skip


class AudioError(ValueError):
    """A piece of audio that cannot be used; the message names the file and what is wrong."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int = 2 * 1024**3  # refuse files larger than this before reading them
    max_duration_s: float = 6 * 3600.0  # refuse audio longer than this (a whole shift's recording)


@dataclass(frozen=True)
class AudioInfo:
    """What ffprobe says of a file before it is decoded."""

    format_name: str
    codec: str
    channels: int
    sample_rate: int
    duration_s: float  # 0.0 when the container does not say


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n} GB"


def _length(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds < 120 else f"{seconds / 3600:.3g} h"


def _ffmpeg(tool: str = "ffmpeg") -> str:
    exe = shutil.which(tool)
    if exe is None:
        raise RuntimeError(
            f"the `{tool}` program is needed to decode audio files but is not on PATH; "
            "install it (Debian/Ubuntu: apt-get install ffmpeg), or pass numpy samples instead"
        )
    return exe


def _safe_input_args(path: Path) -> list[str]:
    return [
        "-protocol_whitelist", "file",
        "-format_whitelist", ",".join(ALLOWED_DEMUXERS),
        "-i", f"file:{path}",
    ]  # fmt: skip


def _check_file(path: Path, limits: AudioLimits) -> None:
    source = str(path)
    if not path.exists():
        raise AudioError(source, "no such file")
    if not path.is_file():
        raise AudioError(source, "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise AudioError(source, "empty file (0 bytes)")
    if size > limits.max_bytes:
        raise AudioError(
            source,
            f"file is {_size(size)}, over the limit of {_size(limits.max_bytes)} (raise it with --max-bytes)",
        )


def probe(path: str | Path, limits: AudioLimits = AudioLimits()) -> AudioInfo:
    """Look at a file without decoding it; raise AudioError if it is not usable audio."""
    path = Path(path)
    _check_file(path, limits)
    cmd = [
        _ffmpeg("ffprobe"), "-v", "error", *_safe_input_args(path),
        "-show_entries", "stream=codec_type,codec_name,channels,sample_rate:format=duration,format_name",
        "-of", "json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else "ffprobe failed"
        if any("not on whitelist" in line for line in detail):
            reason = "container format is not an allowed audio format"
        raise AudioError(str(path), f"not a readable audio file ({reason})")
    info = json.loads(proc.stdout or b"{}")
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise AudioError(str(path), "no audio stream in the file (not audio)")
    fmt = info.get("format", {})
    s = streams[0]
    duration = float(fmt.get("duration") or 0.0)
    if duration > limits.max_duration_s:
        raise AudioError(
            str(path),
            f"audio is {_length(duration)} long, over the limit of {_length(limits.max_duration_s)} "
            "(raise it with --max-duration)",
        )
    return AudioInfo(
        format_name=fmt.get("format_name", ""),
        codec=s.get("codec_name", ""),
        channels=int(s.get("channels") or 1),
        sample_rate=int(s.get("sample_rate") or 0),
        duration_s=duration,
    )


def load_audio(
    path: str | Path,
    *,
    channel: int | None = None,
    limits: AudioLimits = AudioLimits(),
    info: AudioInfo | None = None,
) -> Audio:
    """Decode a file to 16 kHz mono float32.

    channel: None mixes all channels down; 0, 1, ... takes that channel alone (stereo calls).
    Raises AudioError naming the file for empty, corrupt, non-audio, too large or too long input.
    """
    path = Path(path)
    info = info or probe(path, limits)
    if channel is not None and not 0 <= channel < info.channels:
        raise AudioError(str(path), f"has {info.channels} channel(s); channel {channel} asked for")
    if channel is not None:
        mix = f"pan=mono|c0=c{channel}"
    else:  # the plain average: ffmpeg's own downmix adds 3 dB and clips loud stereo
        n = max(1, info.channels)
        mix = "pan=mono|c0=" + "+".join(f"{1 / n:.6f}*c{i}" for i in range(n))
    samples = _decode(path, limits, ["-af", mix])
    return Audio(samples, SAMPLE_RATE, str(path))


def load_channels(
    path: str | Path, *, limits: AudioLimits = AudioLimits(), info: AudioInfo | None = None
) -> list[Audio]:
    """Each channel of a file as its own 16 kHz Audio, decoded in one pass (stereo calls)."""
    path = Path(path)
    info = info or probe(path, limits)
    n = max(1, info.channels)
    samples = _decode(path, limits, ["-ac", str(n)], channels=n)
    frames = samples[: len(samples) // n * n].reshape(-1, n)
    return [Audio(np.ascontiguousarray(frames[:, c]), SAMPLE_RATE, str(path)) for c in range(n)]


def _decode(path: Path, limits: AudioLimits, mix: list[str], channels: int = 1) -> np.ndarray:
    """ffmpeg to interleaved float32 at 16 kHz, checked and clipped to [-1, 1]."""
    # Decode a little past the limit: a container that does not declare its length is caught here.
    cmd = [
        _ffmpeg(), "-nostdin", "-hide_banner", "-v", "error", *_safe_input_args(path),
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", str(limits.max_duration_s + 1.0),
        *mix, "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(
            str(path),
            f"corrupt audio, decoding failed ({detail[-1] if detail else 'ffmpeg failed'})",
        )
    samples = np.frombuffer(proc.stdout, dtype=np.float32)
    if samples.size == 0:
        raise AudioError(str(path), "zero-length audio (decoded to no samples)")
    if samples.size / channels / SAMPLE_RATE > limits.max_duration_s:
        raise AudioError(
            str(path),
            f"audio runs over the limit of {_length(limits.max_duration_s)} (raise it with --max-duration)",
        )
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(samples, -1.0, 1.0)


def load_audio_bytes(
    data: bytes, name: str = "upload", limits: AudioLimits = AudioLimits()
) -> Audio:
    """Decode an uploaded file held in memory (e.g. from the browser), with the same checks."""
    if len(data) > limits.max_bytes:
        raise AudioError(
            name,
            f"upload is {len(data) / 1e6:.1f} MB, over the limit of {limits.max_bytes / 1e6:.1f} MB",
        )
    fd, tmp = tempfile.mkstemp(prefix="cca-audio-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        audio = load_audio(tmp, limits=limits)
    except AudioError as e:  # name the upload, never the server's temporary file
        raise AudioError(name, e.problem.replace(f"file:{tmp}", name).replace(tmp, name)) from None
    finally:
        os.unlink(tmp)
    return Audio(audio.samples, audio.sample_rate, name)


def from_array(samples: np.ndarray, sample_rate: int, source: str = "array") -> Audio:
    """Audio from samples in memory: int16 or float, mono or (n, channels); resampled to 16 kHz."""
    x = np.asarray(samples)
    if x.size == 0:
        raise AudioError(source, "zero-length audio")
    if np.issubdtype(x.dtype, np.unsignedinteger):  # e.g. 8-bit WAV: silence is the mid value
        mid = (float(np.iinfo(x.dtype).max) + 1) / 2
        x = (x.astype(np.float32) - mid) / mid
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sample_rate != SAMPLE_RATE:
        x = resample(x, sample_rate, SAMPLE_RATE)
    return Audio(np.clip(x, -1.0, 1.0), SAMPLE_RATE, source)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling of mono float32 samples (ffmpeg's SoX resampler, through a pipe)."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    cmd = [
        _ffmpeg(), "-nostdin", "-hide_banner", "-v", "error",
        "-f", "f32le", "-ar", str(from_rate), "-ac", "1", "-i", "pipe:0",
        "-af", "aresample=resampler=soxr", "-ar", str(to_rate), "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, input=samples.astype(np.float32).tobytes(), capture_output=True, check=True
    )
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()
